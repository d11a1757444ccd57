"""Why a unit exists and what it launched: roles, importance, launched jobs.

A work unit is one point of the sweep; an auxiliary unit (e.g. a
TensorBoard) helps the experiment without being part of it.
`AuxiliaryUnitJob` bundles a job with the auxiliary role so libraries can
hand launch scripts a ready-made helper: `experiment.add(AuxiliaryUnitJob(...))`.
"""

from __future__ import annotations

import enum
from typing import Any

import attrs

from lxm3.xm import job_blocks


class Importance(enum.Enum):
    """A scheduling hint between one's own experiments (HPC schedulers here ignore it)."""

    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


@attrs.frozen(kw_only=True)
class ExperimentUnitRole:
    """The role of a unit in the experiment, with its importance."""

    importance: Importance = Importance.NORMAL


@attrs.frozen(kw_only=True)
class WorkUnitRole(ExperimentUnitRole):
    """A unit of the experiment's sweep, numbered 1, 2, ..."""


@attrs.frozen(kw_only=True)
class AuxiliaryUnitRole(ExperimentUnitRole):
    """A helper unit that is not part of the sweep.

    `termination_delay_secs`: how long it may keep running after the
    experiment's work units ended.
    """

    termination_delay_secs: int = 0


@attrs.frozen(kw_only=True)
class LaunchedJob:
    """A read-only view of one job a unit launched: its name, and where to find it."""

    name: str
    address: str | None = None
    logs: str | None = None


class AuxiliaryUnitJob:
    """A job (or job generator) that `experiment.add` runs as an auxiliary unit.

    It is itself an async job generator, so it can be added like one; `add`
    takes the role from it.
    """

    def __init__(
        self,
        job: Any,
        *,
        importance: Importance = Importance.NORMAL,
        termination_delay_secs: int,
    ) -> None:
        self.role = AuxiliaryUnitRole(importance=importance, termination_delay_secs=termination_delay_secs)
        self._job = job

    async def __call__(self, aux_unit: Any, **kwargs: Any) -> None:
        if isinstance(self._job, job_blocks.JobConfig):
            aux_unit.add(self._job, args=kwargs or None)  # launched as a task of the experiment
        else:
            await self._job(aux_unit, **kwargs)
