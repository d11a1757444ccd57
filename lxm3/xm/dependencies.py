"""Dependencies between units: the algebra a launch script writes.

    b = experiment.add(job_b, dependency=a.after_succeeded()).result()
    experiment.add(job_c, dependency=b.after_succeeded() & other.after_succeeded())
    experiment.add(cleanup, dependency=a.after_failed())

A condition names a unit and what must have happened to it; `&` (all of
them) and `|` (any of them) combine conditions. The backend turns the
expression into what its scheduler understands (a Slurm `--dependency` line,
Grid Engine holds, an in-process gate) and refuses, at `add`, what it cannot
express, so an expression never silently changes its meaning.

This module knows nothing about schedulers: it only builds and normalizes
expressions (`flatten`), and describes them for people (`describe`).
"""

from __future__ import annotations

import enum
from typing import Any

import attrs

from lxm3.errors import LxmError


class DependencyError(LxmError, ValueError):
    """A dependency that cannot be expressed or cannot hold; the message says how to fix it."""


class Condition(enum.Enum):
    """What must have happened to the unit a dependent waits on."""

    #: Every task of the unit exited 0.
    SUCCEEDED = "succeeded"
    #: Every task ended, in any state.
    FINISHED = "finished"
    #: Every task ended and at least one failed or was cancelled.
    FAILED = "failed"
    #: The unit's tasks have started.
    STARTED = "started"


class Dependency:
    """An expression over units; combine with `&` (all) and `|` (any)."""

    def __and__(self, other: Dependency) -> Dependency:
        return AllOf((self, _checked(other, "&")))

    def __or__(self, other: Dependency) -> Dependency:
        return AnyOf((self, _checked(other, "|")))

    def conditions(self) -> tuple[After, ...]:
        """Every condition in the expression, in order."""
        raise NotImplementedError


def _checked(other: object, operator: str) -> Dependency:
    if not isinstance(other, Dependency):
        raise TypeError(f"`{operator}` combines dependencies such as `wu.after_succeeded()`, got {other!r}")
    return other


@attrs.frozen(eq=False)
class After(Dependency):
    """One condition: `unit` reached `condition` (task by task when `per_task`)."""

    unit: Any
    condition: Condition
    per_task: bool = False

    def conditions(self) -> tuple[After, ...]:
        return (self,)

    @property
    def work_unit_id(self) -> int:
        return int(getattr(self.unit, "work_unit_id", 0))

    @property
    def experiment_id(self) -> int:
        return int(self.unit.experiment_id)

    def describe(self, experiment_id: int | None = None) -> str:
        """`work unit 1 succeeded` (with `of experiment 7` when another experiment's)."""
        where = "" if experiment_id in (None, self.experiment_id) else f" of experiment {self.experiment_id}"
        per_task = " (task by task)" if self.per_task else ""
        return f"work unit {self.work_unit_id}{where} {self.condition.value}{per_task}"


@attrs.frozen
class AllOf(Dependency):
    """Every part must hold."""

    parts: tuple[Dependency, ...]

    def conditions(self) -> tuple[After, ...]:
        return tuple(c for part in self.parts for c in part.conditions())


@attrs.frozen
class AnyOf(Dependency):
    """At least one part must hold."""

    parts: tuple[Dependency, ...]

    def conditions(self) -> tuple[After, ...]:
        return tuple(c for part in self.parts for c in part.conditions())


@attrs.frozen
class Flat:
    """A dependency as one list of conditions joined by one operator: what schedulers take."""

    mode: str  # "all" or "any"
    conditions: tuple[After, ...]

    def describe(self, experiment_id: int | None = None) -> str:
        joiner = " and " if self.mode == "all" else " or "
        return joiner.join(c.describe(experiment_id) for c in self.conditions)


def flatten(dependency: Dependency) -> Flat:
    """Normalizes `a & (b & c)` to all-of [a, b, c]; refuses a mix of `&` and `|`.

    Neither Slurm nor Grid Engine can nest the two operators (Slurm's
    `--dependency` takes `,` or `?` between its terms, not both), so a mixed
    expression is refused everywhere rather than meaning different things on
    different backends.
    """
    if isinstance(dependency, After):
        return Flat("all", (dependency,))
    if not isinstance(dependency, (AllOf, AnyOf)):
        raise TypeError(f"dependency must come from e.g. `wu.after_succeeded()`, got {dependency!r}")
    mode = "all" if isinstance(dependency, AllOf) else "any"
    conditions: list[After] = []
    for part in dependency.parts:
        inner = flatten(part)
        if inner.mode != mode and len(inner.conditions) > 1:
            raise DependencyError(
                "a dependency cannot mix `&` and `|` (the schedulers cannot nest them): "
                f"{describe(dependency)}; launch an intermediate unit instead"
            )
        conditions.extend(inner.conditions)
    unique: list[After] = []
    for condition in conditions:
        if not any(
            c.unit is condition.unit
            and c.condition is condition.condition
            and c.per_task == condition.per_task
            for c in unique
        ):
            unique.append(condition)
    return Flat(mode, tuple(unique))


def describe(dependency: Dependency) -> str:
    """A readable form, e.g. `(work unit 1 succeeded & work unit 2 succeeded)`."""
    if isinstance(dependency, After):
        return dependency.describe()
    if isinstance(dependency, (AllOf, AnyOf)):
        joiner = " & " if isinstance(dependency, AllOf) else " | "
        return "(" + joiner.join(describe(part) for part in dependency.parts) + ")"
    return repr(dependency)
