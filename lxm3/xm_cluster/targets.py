"""Targets: where jobs of a given executor go (this machine, or one cluster).

A target bundles the scheduler module, the ONE transport to the host (opened
lazily, shared by every job of the process, so a launch makes one SSH
connection), the staging root there, and the cluster's status watcher. Each
executor module registers how to make its target from the config.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lxm3.config import Config
from lxm3.schedulers.base import Scheduler
from lxm3.schedulers.watcher import StatusWatcher
from lxm3.transport.base import Transport


class Target:
    """A scheduler reached through one transport, with a staging root there."""

    def __init__(
        self,
        *,
        name: str,
        scheduler: Scheduler,
        transport_factory: Callable[[], Transport],
        staging: str,
        python: str = "python3",
        env: dict[str, str] | None = None,
        is_local: bool = False,
        cluster_config: Any = None,
    ) -> None:
        self.name = name
        self.scheduler = scheduler
        self._staging = staging
        self.python = python
        self.env = dict(env or {})
        self.is_local = is_local
        self.cluster_config = cluster_config
        self._transport_factory = transport_factory
        self._transport: Transport | None = None
        self._lock = threading.Lock()
        self._max_array_size: int | None = None
        #: Set for dry runs: never contact the cluster.
        self.offline = False
        self.watcher = StatusWatcher(scheduler, self.transport)

    @property
    def staging(self) -> str:
        """The staging root with `~` expanded on the host (quoted paths never expand it).

        Offline (a dry run) it stays as configured, since expanding `~` would
        mean asking the cluster.
        """
        if self._staging.startswith("~") and not self.offline:
            self._staging = self.transport().expand_user(self._staging)
        return self._staging

    def transport(self) -> Transport:
        """The target's single transport, connected on first use."""
        with self._lock:
            if self._transport is None:
                self._transport = self._transport_factory()
            return self._transport

    def warm_up(self) -> None:
        """Starts opening the connection in the background (it overlaps staging the job)."""
        if self.offline or self.is_local:
            return
        transport = self.transport()
        connect = getattr(transport, "connect", None)
        if connect is not None:
            threading.Thread(target=self._connect_quietly, args=(connect,), daemon=True).start()

    @staticmethod
    def _connect_quietly(connect: Callable[[], None]) -> None:
        try:
            connect()
        except Exception:  # noqa: BLE001 - the first real command reports the failure
            pass

    def max_array_size(self) -> int:
        """The cluster's largest array, asked once per process (the scheduler may cache longer).

        An offline target (a dry run) never contacts the cluster: it uses what
        the scheduler has cached, else the scheduler's default limit.
        """
        with self._lock:
            cached = self._max_array_size
        if cached is None and self.offline:
            transport = self.transport()
            return self.scheduler.known_max_array_size(transport) or self.scheduler.default_max_array_size
        if cached is None:
            cached = self.scheduler.max_array_size(self.transport())
            with self._lock:
                self._max_array_size = cached
        return cached

    def close(self) -> None:
        with self._lock:
            if self._transport is not None:
                self._transport.close()
                self._transport = None


TargetFactory = Callable[[Any, Config], Target]
_FACTORIES: dict[type, TargetFactory] = {}
_TARGETS: dict[tuple[str, ...], Target] = {}
_TARGETS_LOCK = threading.Lock()


def register_executor(executor_type: type, factory: TargetFactory) -> None:
    """Teaches lxm3 where jobs with this executor type run."""
    _FACTORIES[executor_type] = factory


def target_key(kind: str, config: Config, cluster: str | None = None) -> tuple[str, ...]:
    return (kind, cluster or "", config.source or "")


def get_target(executor: Any, config: Config) -> Target:
    """The (shared) target for an executor."""
    factory = _FACTORIES.get(type(executor))
    if factory is None:
        known = ", ".join(sorted(t.__name__ for t in _FACTORIES))
        raise TypeError(f"lxm3 cannot run jobs on {type(executor).__name__}; executors: {known}")
    return factory(executor, config)


def cached_target(key: tuple[str, ...], make: Callable[[], Target]) -> Target:
    """One target per key per process, so every job shares its transport and watcher."""
    with _TARGETS_LOCK:
        target = _TARGETS.get(key)
        if target is None:
            target = make()
            _TARGETS[key] = target
        return target


_KEEP_OPEN = False


def keep_open(keep: bool) -> None:
    """Makes `close_all` a no-op while True, so `lxm3 launch --wait` reuses the launch's connection."""
    global _KEEP_OPEN
    _KEEP_OPEN = keep


def close_all(force: bool = False) -> None:
    """Closes every open transport (end of a launch)."""
    if _KEEP_OPEN and not force:
        return
    with _TARGETS_LOCK:
        targets = list(_TARGETS.values())
        _TARGETS.clear()
    for target in targets:
        target.close()


#: Relative `[local.storage] staging` values, resolved once per process (see local_staging_root).
_RESOLVED_LOCAL_ROOTS: dict[str, Path] = {}


def local_staging_root(config: Config) -> Path:
    """This machine's staging root, always absolute.

    A relative value (lxm3 0.4's template has `.cache/lxm`) means: relative to the
    directory the launch started in, as lxm3 0.4 resolved it. It is resolved once,
    at the first use in the launch, so the task runner (which works in other
    directories) and later `chdir`s see the same absolute path.
    """
    raw = os.path.expanduser(config.local_staging)
    if os.path.isabs(raw):
        return Path(raw)
    with _TARGETS_LOCK:
        resolved = _RESOLVED_LOCAL_ROOTS.get(raw)
        if resolved is None:
            resolved = Path(os.path.abspath(raw))
            _RESOLVED_LOCAL_ROOTS[raw] = resolved
    return resolved
