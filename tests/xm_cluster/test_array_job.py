"""ArrayJob: one task per element of args/env_vars, with length-1 broadcasting."""

from __future__ import annotations

import pytest

from lxm3 import xm, xm_cluster
from lxm3.xm import job_blocks
from lxm3.xm_cluster.array_job import broadcast


def array_job(**kwargs: object) -> xm_cluster.ArrayJob:
    return xm_cluster.ArrayJob(xm.Executable(name="trainer"), xm_cluster.Local(), **kwargs)  # type: ignore[arg-type]


def rendered(job: xm_cluster.ArrayJob) -> list[tuple[list[object], dict[str, str]]]:
    return [(args.to_list(), env) for args, env in zip(job.args, job.env_vars, strict=True)]


def test_equal_lengths_pair_up_per_task() -> None:
    job = array_job(args=[{"seed": 0}, {"seed": 1}], env_vars=[{"T": "a"}, {"T": "b"}])
    assert job.num_tasks == 2
    assert rendered(job) == [(["--seed=0"], {"T": "a"}), (["--seed=1"], {"T": "b"})]


def test_single_env_is_broadcast_to_every_task() -> None:
    job = array_job(args=[{"seed": s} for s in range(3)], env_vars=[{"GROUP": 7}])
    assert job.num_tasks == 3
    assert rendered(job) == [([f"--seed={s}"], {"GROUP": "7"}) for s in range(3)]


def test_single_args_is_broadcast_to_every_task() -> None:
    job = array_job(args=[["fixed", "--x=1"]], env_vars=[{"I": str(i)} for i in range(4)])
    assert rendered(job) == [(["fixed", "--x=1"], {"I": str(i)}) for i in range(4)]


def test_missing_side_defaults_to_one_empty_entry() -> None:
    assert rendered(array_job(args=[{"a": 1}, {"a": 2}])) == [(["--a=1"], {}), (["--a=2"], {})]
    assert rendered(array_job(env_vars=[{"A": "1"}, {"A": "2"}])) == [([], {"A": "1"}), ([], {"A": "2"})]
    assert rendered(array_job()) == [([], {})]


def test_broadcast_copies_are_independent() -> None:
    job = array_job(args=[{"seed": 0}], env_vars=[{"A": "x"}, {"A": "y"}, {"A": "z"}])
    assert len({id(args) for args in job.args}) == 3
    job_blocks.apply_args(job, {"env_vars": {"B": "1"}})
    job.env_vars[0]["ONLY_FIRST"] = "1"
    assert [env.get("ONLY_FIRST") for env in job.env_vars] == ["1", None, None]
    single_env = array_job(args=[{"s": 0}, {"s": 1}], env_vars=[{"A": "x"}])
    single_env.env_vars[0]["A"] = "changed"
    assert single_env.env_vars[1]["A"] == "x"


def test_mismatched_lengths_are_an_error() -> None:
    with pytest.raises(ValueError, match=r"args \(2 entries\) and env_vars \(3 entries\)"):
        array_job(args=[{}, {}], env_vars=[{}, {}, {}])


def test_empty_sweep_is_an_error() -> None:
    with pytest.raises(ValueError):
        array_job(args=[])
    with pytest.raises(ValueError, match="at least one task"):
        array_job(args=[], env_vars=[])


def test_args_must_be_a_list_per_task() -> None:
    with pytest.raises(TypeError, match="one entry per task"):
        array_job(args={"seed": 1})
    with pytest.raises(TypeError, match="one dict per task"):
        array_job(env_vars={"A": "1"})


def test_experiment_add_args_apply_to_every_task() -> None:
    job = array_job(args=[{"seed": 0, "lr": 1}, {"seed": 1, "lr": 1}], env_vars=[{"A": "0"}])
    job_blocks.apply_args(job, {"args": {"lr": 0.5, "extra": True}, "env_vars": {"A": "over", "B": 2}})
    assert rendered(job) == [
        (["--seed=0", "--lr=0.5", "--extra"], {"A": "over", "B": "2"}),
        (["--seed=1", "--lr=0.5", "--extra"], {"A": "over", "B": "2"}),
    ]


def test_broadcast_function_directly() -> None:
    args = [xm.SequentialArgs.from_collection(["x"])]
    out_args, out_env = broadcast(args, [{"I": "0"}, {"I": "1"}])
    assert [a.to_list() for a in out_args] == [["x"], ["x"]] and out_env == [{"I": "0"}, {"I": "1"}]
    same_args, same_env = broadcast(args, [{}])
    assert same_args is args and same_env == [{}]
