"""The experiment a launch script is inside (lxm3 0.4's `xm_cluster.get_current_experiment`).

Helpers called from deep inside a launcher (a job generator, a W&B wrapper)
use it instead of passing the experiment around. An experiment counts as
current from its creation until its `with` block closes; experiments nest,
and the innermost open one is current.
"""

from __future__ import annotations

import threading
from typing import Any

_lock = threading.Lock()
_open: list[Any] = []


def opened(experiment: Any) -> None:
    """Marks `experiment` current (called when it is created)."""
    with _lock:
        _open.append(experiment)


def closed(experiment: Any) -> None:
    """Forgets `experiment` (called when its context closes; idempotent)."""
    with _lock:
        if experiment in _open:
            _open.remove(experiment)


def get_current_experiment() -> Any:
    """The innermost open `ClusterExperiment`; RuntimeError outside any."""
    with _lock:
        if _open:
            return _open[-1]
    raise RuntimeError(
        "no experiment is open: call get_current_experiment() inside `with xm_cluster.create_experiment(...)`"
    )
