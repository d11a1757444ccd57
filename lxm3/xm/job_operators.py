"""Operations on job trees (Job / JobGroup nests) shared by the core and backends.

`add` copies the caller's job before applying args, names unnamed jobs, and
backends flatten groups into the jobs they submit; libraries use the same
helpers (XManager's `xm.job_operators`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from lxm3.xm import job_blocks


def shallow_copy_job_type(job_type: job_blocks.JobType) -> job_blocks.JobType:
    """Copies jobs and groups (not executables), so `add` never changes the caller's job.

    A shallow copy suffices: applying args replaces the args/env containers
    instead of mutating them (and a 100,000-task ArrayJob is not deep-copied).
    """
    if isinstance(job_type, job_blocks.JobGroup):
        clone = copy.copy(job_type)
        clone.jobs = {name: shallow_copy_job_type(inner) for name, inner in job_type.jobs.items()}
        return clone
    if isinstance(job_type, job_blocks.JobConfig):
        return copy.copy(job_type)
    return job_type


def populate_job_names(job_type: job_blocks.JobType) -> None:
    """Names unnamed jobs: a job in a group by its path of keys (`a_b`), a lone job by its executable."""

    def visit(prefix: Sequence[str], target: Any) -> None:
        if isinstance(target, job_blocks.JobGroup):
            for key, inner in target.jobs.items():
                visit([*prefix, key], inner)
        elif isinstance(target, job_blocks.JobConfig) and getattr(target, "name", "") is None:
            target.name = "_".join(prefix) if prefix else target.executable.name  # type: ignore[attr-defined]

    visit([], job_type)


def collect_jobs_by_filter(job_group: job_blocks.JobGroup, predicate: Callable[[Any], bool]) -> list[Any]:
    """The jobs of a (nested) group, depth first in key order, that satisfy `predicate`."""
    found: list[Any] = []
    for inner in job_group.jobs.values():
        if isinstance(inner, job_blocks.JobGroup):
            found.extend(collect_jobs_by_filter(inner, predicate))
        elif predicate(inner):
            found.append(inner)
    return found


def flatten_jobs(job_group: job_blocks.JobGroup) -> list[Any]:
    """Every job of a (nested) group, depth first."""
    return collect_jobs_by_filter(job_group, lambda _: True)


@attrs.define
class ConstraintClique:
    """A constraint together with every job it applies to."""

    constraint: job_blocks.Constraint
    jobs: list[Any]


def aggregate_constraint_cliques(job_group: job_blocks.JobGroup) -> list[ConstraintClique]:
    """For each constraint of the group and its subgroups, the jobs under it (outer first)."""
    cliques = [ConstraintClique(constraint, flatten_jobs(job_group)) for constraint in job_group.constraints]
    for inner in job_group.jobs.values():
        if isinstance(inner, job_blocks.JobGroup):
            cliques.extend(aggregate_constraint_cliques(inner))
    return cliques
