"""The Local executor: run on this machine, at most `max_parallel` tasks at once."""

from __future__ import annotations

import os
import sys
from typing import Any

import attrs

from lxm3 import xm
from lxm3.schedulers.base import JobDirectives
from lxm3.xm_cluster.executors.base import DockerOptions, SingularityOptions, validated_fields


class LocalSpec(xm.ExecutorSpec):
    """Package for running on this machine."""


def _positive_or_none(instance: object, attribute: attrs.Attribute, value: object) -> None:
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
        raise ValueError(f"Local.{attribute.name} must be a positive integer, got {value!r}")


@validated_fields
@attrs.frozen
class Local(xm.Executor):
    """Runs tasks as subprocesses here; `Local(requirements)` as in lxm3 0.4."""

    # Positional in lxm3 0.4's order: Local(requirements, singularity_options, docker_options).
    requirements: xm.JobRequirements = attrs.field(factory=xm.JobRequirements)
    singularity_options: SingularityOptions | None = attrs.field(default=None)
    docker_options: DockerOptions | None = attrs.field(default=None)
    max_parallel: int | None = attrs.field(default=None, kw_only=True, validator=_positive_or_none)

    @property
    def parallelism(self) -> int:
        return self.max_parallel or os.cpu_count() or 1

    def job_directives(self) -> JobDirectives:
        """The Local scheduler reads only how many tasks may run at once."""
        return JobDirectives(max_parallel=self.parallelism)

    @classmethod
    def Spec(cls) -> LocalSpec:  # noqa: N802 - XManager's public name
        return LocalSpec()


def _local_target(executor: Any, config: Any) -> Any:
    from lxm3.schedulers.local import LocalScheduler
    from lxm3.transport.local import LocalTransport
    from lxm3.xm_cluster import targets

    root = targets.local_staging_root(config)
    return targets.cached_target(
        targets.target_key("local", config),
        lambda: targets.Target(
            name="local",
            scheduler=LocalScheduler(echo=os.environ.get("LXM3_LOCAL_ECHO", "1") != "0"),
            transport_factory=LocalTransport,
            staging=str(root),
            python=sys.executable if config.local_python is None else config.local_python,
            env=dict(config.local_env),
            is_local=True,
        ),
    )


def _register() -> None:
    from lxm3.xm_cluster import targets

    targets.register_executor(Local, _local_target)


_register()
