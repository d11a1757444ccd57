"""Recorded (config, target name, scheduler) -> the shared `Target` of this process.

A reloaded job reaches its cluster through the same cached `Target` (one
transport, one watcher) as a job launched by this process would.
"""

from __future__ import annotations

import os
from pathlib import Path

import attrs

from lxm3.config import Config, ConfigError, load_config_file
from lxm3.store.records import JobRecord, ReloadError
from lxm3.xm_cluster import targets


class TargetResolver:
    """Finds the target a recorded job ran on, with the config it was launched with."""

    def __init__(self) -> None:
        self._configs: dict[str | None, Config] = {}

    def config(self, config_path: str | None) -> Config:
        """The configuration an experiment was launched with (defaults when it had no file)."""
        if config_path not in self._configs:
            if config_path is None:
                self._configs[config_path] = Config()
            elif not os.path.isfile(config_path):
                raise ConfigError(
                    f"the experiment was launched with config {config_path}, which no longer exists; restore it to reach its cluster"
                )
            else:
                self._configs[config_path] = load_config_file(Path(config_path))
        return self._configs[config_path]

    def target(self, attempt: JobRecord, config_path: str | None) -> targets.Target:
        if attempt.is_local:
            from lxm3.xm_cluster.executors.local import Local

            return targets.get_target(Local(), self._local_config(config_path))
        config = self.config(config_path)
        executor = attempt.restore_executor()
        if attrs.has(type(executor)) and "cluster" in attrs.fields_dict(type(executor)):
            # The recorded cluster, whatever `$LXM_CLUSTER` says now.
            executor = attrs.evolve(executor, cluster=attempt.target_name)
        target = targets.get_target(executor, config)
        if target.name != attempt.target_name or target.scheduler.name != attempt.scheduler_name:
            raise ReloadError(
                f"job {attempt.name!r} ran on {attempt.target_name} ({attempt.scheduler_name}), but the config now maps it to "
                f"{target.name} ({target.scheduler.name})"
            )
        return target

    def _local_config(self, config_path: str | None) -> Config:
        # Local jobs need the config only for the local python/env; a missing file is no obstacle.
        try:
            return self.config(config_path)
        except ConfigError:
            return Config()
