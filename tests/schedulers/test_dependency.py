"""Rendering a resolved dependency per scheduler: Slurm `--dependency`, Grid Engine holds, runner checks."""

from __future__ import annotations

import pytest

from lxm3.schedulers.base import ArrayChunk, RenderRequest
from lxm3.schedulers.dependency import PredecessorJob, ResolvedDependency, Term, sge_holds, slurm_dependency
from lxm3.schedulers.sge import GridEngineScheduler
from lxm3.schedulers.slurm import SlurmScheduler
from lxm3.xm.dependencies import DependencyError
from lxm3.xm_cluster.executors.gridengine import GridEngine
from lxm3.xm_cluster.executors.slurm import Slurm

WHOLE = ArrayChunk(0, 4)


def term(work_unit_id: int, condition: str, ids: list[str], *, per_task: bool = False, size: int = 4) -> Term:
    per = size // len(ids)
    chunks = tuple(ArrayChunk(k * per, per) for k in range(len(ids)))
    job = PredecessorJob(tuple(ids), chunks, f"/s/experiments/1/{work_unit_id}/job/logs", size)
    return Term(1, work_unit_id, condition, per_task, (job,), f"work unit {work_unit_id}")


def dep(mode: str, *terms: Term) -> ResolvedDependency:
    return ResolvedDependency(mode, terms)


def test_slurm_conditions_map_to_its_dependency_types() -> None:
    value, runner = slurm_dependency(
        dep(
            "all",
            term(1, "succeeded", ["11"]),
            term(2, "finished", ["12"]),
            term(3, "failed", ["13"]),
            term(4, "started", ["14"]),
        ),
        WHOLE,
    )
    assert value == "afterok:11,afterany:12,afternotok:13,after:14"
    assert runner == []


def test_slurm_split_array_means_every_chunk() -> None:
    value, runner = slurm_dependency(dep("all", term(1, "succeeded", ["11", "12"])), WHOLE)
    assert value == "afterok:11:12"
    # `afternotok:11:12` would need BOTH chunks to fail: the runner checks "any task failed".
    failed = term(1, "failed", ["11", "12"])
    value, runner = slurm_dependency(dep("all", failed), WHOLE)
    assert value == "afterany:11:12" and runner == [failed]


def test_slurm_or_uses_question_marks_but_not_over_split_arrays() -> None:
    value, _ = slurm_dependency(dep("any", term(1, "failed", ["11"]), term(2, "failed", ["12"])), WHOLE)
    assert value == "afternotok:11?afternotok:12"
    with pytest.raises(DependencyError, match=r"cannot express `\|`"):
        slurm_dependency(dep("any", term(1, "succeeded", ["11", "12"]), term(2, "succeeded", ["13"])), WHOLE)


def test_per_task_pairs_the_chunk_with_the_same_tasks() -> None:
    paired = term(1, "succeeded", ["11", "12"], per_task=True)
    assert slurm_dependency(dep("all", paired), ArrayChunk(2, 2))[0] == "aftercorr:12"
    hold, hold_array, runner = sge_holds(dep("all", paired), ArrayChunk(2, 2))
    assert (hold, hold_array, runner) == ([], ["12"], [paired])
    with pytest.raises(DependencyError, match="same array split"):
        slurm_dependency(dep("all", paired), ArrayChunk(1, 2))


def test_grid_engine_holds_and_leaves_succeeded_and_failed_to_the_runner() -> None:
    ok, any_end, failed = (
        term(1, "succeeded", ["11", "12"]),
        term(2, "finished", ["13"]),
        term(3, "failed", ["14"]),
    )
    hold, hold_array, runner = sge_holds(dep("all", ok, any_end, failed), WHOLE)
    assert hold == ["11", "12", "13", "14"] and hold_array == []
    assert runner == [ok, failed]


@pytest.mark.parametrize(
    ("dependency", "message"),
    [
        (dep("any", term(1, "failed", ["11"]), term(2, "failed", ["12"])), "ANY of several units"),
        (dep("all", term(1, "started", ["11"])), "until another starts"),
    ],
)
def test_grid_engine_refuses_what_it_cannot_express(dependency: ResolvedDependency, message: str) -> None:
    with pytest.raises(DependencyError, match=message):
        sge_holds(dependency, WHOLE)


def request(executor: object, dependency: ResolvedDependency) -> RenderRequest:
    return RenderRequest(
        job_name="train",
        label="1_2_train",
        executor=executor,
        chunk=WHOLE,
        num_tasks=4,
        job_dir="/s/j",
        log_dir="/s/j/logs",
        runner_path="/s/r.py",
        spec_path="/s/j/job.json",
        dependency=dependency,
    )


def test_rendered_scripts_carry_the_dependency() -> None:
    dependency = dep("all", term(1, "succeeded", ["11"]))
    slurm = SlurmScheduler().render(request(Slurm(), dependency))
    assert "#SBATCH --dependency=afterok:11\n" in slurm
    assert "#SBATCH --kill-on-invalid-dep=yes\n" in slurm
    sge = GridEngineScheduler().render(request(GridEngine(), dependency))
    assert "#$ -hold_jid 11\n" in sge
