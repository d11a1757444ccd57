"""The two cluster schedulers, side by side, for tests that check the same behaviour on both.

A test that holds for Slurm and Grid Engine alike is written once, over `KIND_PARAMS`
(unit tests) or `KIND_PARAMS_ON_TESTBED` (tests that reach the real testbed: these carry
the `slurm`/`sge` and `ssh` markers, so `-m slurm` and `-m sge` still select them). What
only one scheduler has (its directives, golden files, accounting quirks) stays in that
scheduler's own test module.
"""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from lxm3 import xm_cluster
from lxm3.schedulers.sge import GridEngineScheduler
from lxm3.schedulers.slurm import SlurmScheduler
from tests.hostile import SGE_VALUES, SLURM_VALUES


@attrs.frozen
class Kind:
    """What differs between the schedulers where the behaviour under test does not."""

    name: str
    executor_class: type[Any]
    scheduler_class: type[Any]
    #: The executor field that caps how many tasks of an array run at once.
    throttle_field: str
    #: Values only this scheduler's directive syntax makes dangerous (tests/hostile.py).
    hostile_extra: tuple[str, ...]
    #: The variable the scheduler sets in an array task, and the index of the first task.
    array_index_var: str
    first_array_index: int

    def executor(self, max_parallel: int | None = None, **kwargs: Any) -> Any:
        """An executor of this kind; `max_parallel` is spelled as this executor spells it."""
        if max_parallel is not None:
            kwargs[self.throttle_field] = max_parallel
        return self.executor_class(**kwargs)

    @property
    def spec(self) -> Any:
        return self.executor_class.Spec()

    def __str__(self) -> str:
        return self.name


SLURM = Kind(
    name="slurm",
    executor_class=xm_cluster.Slurm,
    scheduler_class=SlurmScheduler,
    throttle_field="max_parallel",
    hostile_extra=tuple(SLURM_VALUES),
    array_index_var="SLURM_ARRAY_TASK_ID",
    first_array_index=0,
)
SGE = Kind(
    name="sge",
    executor_class=xm_cluster.GridEngine,
    scheduler_class=GridEngineScheduler,
    throttle_field="max_parallel_tasks",
    hostile_extra=tuple(SGE_VALUES),
    array_index_var="SGE_TASK_ID",
    first_array_index=1,
)

#: Both kinds, for tests that never leave this machine.
KIND_PARAMS = [pytest.param(SLURM, id="slurm"), pytest.param(SGE, id="sge")]
#: Both kinds, for tests against the real testbed (selected by `-m slurm` / `-m sge`).
KIND_PARAMS_ON_TESTBED = [
    pytest.param(SLURM, id="slurm", marks=[pytest.mark.slurm, pytest.mark.ssh]),
    pytest.param(SGE, id="sge", marks=[pytest.mark.sge, pytest.mark.ssh]),
]


def on_testbed(*names: str) -> list[Any]:
    """Parameters naming targets ("local", "slurm", "sge"), each cluster one carrying its markers.

    For fixtures and tests parametrized by target name: `-m slurm` / `-m sge` then select
    their cluster cases (a bare string parameter would escape both markers).
    """
    marks = {
        "slurm": [pytest.mark.slurm, pytest.mark.ssh],
        "sge": [pytest.mark.sge, pytest.mark.ssh],
    }
    return [pytest.param(name, id=name, marks=marks.get(name, [])) for name in names]
