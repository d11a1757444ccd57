"""One name for the array throttle on every executor: `max_parallel` or `max_parallel_tasks`.

lxm3 0.4 called it `max_parallel` on Slurm/Local and `max_parallel_tasks` on
Grid Engine; a launcher switching executors kept the wrong one and got a
TypeError (or, worse, no throttle). Every executor now takes both and keeps
them equal.
"""

from __future__ import annotations

from typing import Any


def reconcile(executor: Any) -> None:
    """Makes `max_parallel` and `max_parallel_tasks` the same value; both given and different is an error."""
    first, second = executor.max_parallel, executor.max_parallel_tasks
    if first is not None and second is not None and first != second:
        raise ValueError(
            f"{type(executor).__name__}: max_parallel={first} and max_parallel_tasks={second} "
            "name the same limit; give one"
        )
    value = first if first is not None else second
    object.__setattr__(executor, "max_parallel", value)
    object.__setattr__(executor, "max_parallel_tasks", value)
