"""Dependencies as schedulers see them: scheduler job ids, rendered per scheduler.

The launch glue resolves a launch script's expression (`lxm3.xm.dependencies`)
into a `ResolvedDependency`: for every condition, the scheduler jobs (array
chunks) of the unit waited on and where its tasks leave their exit files. Each
scheduler renders it for one chunk of the dependent job:

    Slurm        `--dependency=afterok:1:2,afterany:3` (`?` between terms for
                 "any"), with `--kill-on-invalid-dep=yes` so a dependent whose
                 condition can never hold is cancelled, not left pending;
                 `aftercorr` pairs task i with task i (chunk k with chunk k)
    Grid Engine  `-hold_jid` (any end) and `-hold_jid_ad` (task by task); what
                 a hold cannot tell (succeeded, failed) is checked by the task
                 runner when the held task starts
    Local        the local scheduler gates each task in-process (see local.py)

A check the task runner makes (a "runner term") travels in the job spec; a
task whose dependency can never hold exits `DEPENDENCY_NOT_MET` without
running its program and is reported CANCELLED.

What a scheduler cannot express raises `DependencyError` when the unit is
added: never a silent change of meaning.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from lxm3.runtime.runner_dependencies import DEPENDENCY_NOT_MET
from lxm3.schedulers.base import ArrayChunk
from lxm3.xm.dependencies import DependencyError

__all__ = [
    "DEPENDENCY_NOT_MET",
    "PredecessorJob",
    "ResolvedDependency",
    "Term",
    "sge_holds",
    "slurm_dependency",
]


@attrs.frozen
class PredecessorJob:
    """One job of a unit waited on: its scheduler jobs (one per chunk) and its log dir."""

    job_ids: tuple[str, ...]
    chunks: tuple[ArrayChunk, ...]
    log_dir: str
    num_tasks: int

    def job_for(self, chunk: ArrayChunk) -> str | None:
        """The scheduler job running the same tasks as `chunk` (for task-by-task pairing)."""
        if len(self.chunks) != len(self.job_ids):  # e.g. a unit rerun since: nothing to pair with
            return None
        for job_id, own in zip(self.job_ids, self.chunks, strict=True):
            if own == chunk:
                return job_id
        return None


@attrs.frozen
class Term:
    """One condition on one unit, with that unit's jobs."""

    experiment_id: int
    work_unit_id: int
    #: "succeeded", "finished", "failed" or "started".
    condition: str
    per_task: bool
    jobs: tuple[PredecessorJob, ...]
    #: How messages name the unit: `work unit 1` (`... of experiment 7` when another's).
    what: str

    @property
    def job_ids(self) -> list[str]:
        return [job_id for job in self.jobs for job_id in job.job_ids]

    def paired(self, chunk: ArrayChunk) -> str:
        """The predecessor's job with the same tasks as `chunk` (per-task dependencies)."""
        job_id = self.jobs[0].job_for(chunk) if len(self.jobs) == 1 else None
        if job_id is None:
            raise DependencyError(
                f"a task-by-task dependency on {self.what} needs the same array split on both sides "
                f"(tasks {chunk.offset}..{chunk.offset + chunk.count - 1} have no counterpart)"
            )
        return job_id

    def runner_spec(self) -> dict[str, Any]:
        """What the task runner needs to check this term (see `runner_dependencies.dependency_block`)."""
        return {
            "what": self.what,
            "condition": self.condition,
            "per_task": self.per_task,
            "jobs": [{"log_dir": job.log_dir, "num_tasks": job.num_tasks} for job in self.jobs],
        }


@attrs.frozen
class ResolvedDependency:
    """A flat expression (all of / any of its terms) over scheduler jobs."""

    mode: str
    terms: tuple[Term, ...]
    #: Set for a dry run: job ids are placeholders, nothing is checked against a cluster.
    placeholder: bool = False

    def describe(self) -> str:
        joiner = " and " if self.mode == "all" else " or "
        return joiner.join(
            f"{t.what} {t.condition}{' (task by task)' if t.per_task else ''}" for t in self.terms
        )


def runner_check(dependency: ResolvedDependency, terms: Sequence[Term]) -> dict[str, Any] | None:
    """The job spec's `dependency` entry for the terms the task runner must check, if any."""
    if not terms:
        return None
    return {"mode": dependency.mode, "terms": [term.runner_spec() for term in terms]}


# ----------------------------------------------------------------------------- Slurm


def slurm_dependency(dependency: ResolvedDependency, chunk: ArrayChunk) -> tuple[str, list[Term]]:
    """`--dependency` value for one chunk, and the terms the runner must check."""
    clauses: list[str] = []
    runner_terms: list[Term] = []
    for term in dependency.terms:
        ids = term.job_ids
        if term.per_task:
            clauses.append(f"aftercorr:{term.paired(chunk)}")
        elif term.condition == "succeeded":
            clauses.append("afterok:" + ":".join(ids))
        elif term.condition == "finished":
            clauses.append("afterany:" + ":".join(ids))
        elif term.condition == "started":
            clauses.append("after:" + ":".join(ids))
        elif len(ids) == 1:
            clauses.append(f"afternotok:{ids[0]}")
        else:
            # `afternotok:1:2` needs every chunk to fail; the unit failed when ANY did.
            clauses.append("afterany:" + ":".join(ids))
            runner_terms.append(term)
    if dependency.mode == "any" and len(clauses) > 1:
        split = [t.what for t in dependency.terms if len(t.job_ids) > 1]
        if split or runner_terms:
            raise DependencyError(
                f"Slurm cannot express `|` over {', '.join(split) or 'a split array'}: its jobs were split into "
                "several arrays (over MaxArraySize), and `?` would then mean any one chunk; use `&`, or a smaller array"
            )
        return "?".join(clauses), []
    return ",".join(clauses), runner_terms


# ----------------------------------------------------------------------------- Grid Engine


def sge_holds(dependency: ResolvedDependency, chunk: ArrayChunk) -> tuple[list[str], list[str], list[Term]]:
    """(`-hold_jid` ids, `-hold_jid_ad` ids, runner terms) for one chunk."""
    if dependency.mode == "any" and len(dependency.terms) > 1:
        raise DependencyError(
            f"Grid Engine cannot hold a job until ANY of several units ({dependency.describe()}) reaches a state; "
            "use `&`, or run on Slurm"
        )
    hold: list[str] = []
    hold_array: list[str] = []
    runner_terms: list[Term] = []
    for term in dependency.terms:
        if term.condition == "started":
            raise DependencyError(
                f"Grid Engine cannot hold a job until another starts ({term.what}); "
                "use after_finished()/after_succeeded(), or run on Slurm"
            )
        if term.per_task and chunk.count > 1:
            hold_array.append(term.paired(chunk))
        elif term.per_task:
            hold.append(term.paired(chunk))
        else:
            hold.extend(term.job_ids)
        if term.condition != "finished":
            runner_terms.append(term)
    return hold, hold_array, runner_terms


def runner_terms_for(
    scheduler: str, dependency: ResolvedDependency, chunks: Sequence[ArrayChunk]
) -> list[Term]:
    """The terms the task runner must check on `scheduler` (the same for every chunk)."""
    if scheduler == "slurm":
        return slurm_dependency(dependency, chunks[0])[1]
    if scheduler == "sge":
        return sge_holds(dependency, chunks[0])[2]
    return []


def check_expressible(scheduler: str, dependency: ResolvedDependency, chunks: Sequence[ArrayChunk]) -> None:
    """Raises DependencyError when `scheduler` cannot hold these chunks on `dependency`."""
    for chunk in chunks:
        if scheduler == "slurm":
            slurm_dependency(dependency, chunk)
        elif scheduler == "sge":
            sge_holds(dependency, chunk)
