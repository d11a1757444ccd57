"""Job, JobGroup, Packageable and how `experiment.add(..., args=...)` applies to them."""

from __future__ import annotations

import pytest

from lxm3 import xm
from lxm3.xm import job_blocks, job_operators


class FakeSpec(xm.ExecutorSpec):
    pass


class FakeExecutor(xm.Executor):
    @classmethod
    def Spec(cls) -> FakeSpec:
        return FakeSpec()


class FakeExecutableSpec(xm.ExecutableSpec):
    @property
    def name(self) -> str:
        return "fake"


def make_job(**kwargs: object) -> xm.Job:
    return xm.Job(xm.Executable(name="trainer"), FakeExecutor(), **kwargs)  # type: ignore[arg-type]


def test_job_converts_args_and_keeps_env_values_as_given() -> None:
    env = {"N": 3, "FLAG": True}
    job = make_job(args={"seed": 1}, env_vars=env)
    assert isinstance(job.args, xm.SequentialArgs)
    assert job.args.to_list() == ["--seed=1"]
    assert job.env_vars == {"N": 3, "FLAG": True} and job.env_vars is not env


@pytest.mark.parametrize("name", ["1ABC", "A-B", "A B", ""])
def test_bad_env_var_names_are_rejected_when_the_job_is_built(name: str) -> None:
    with pytest.raises(ValueError, match=r"must conform to \[a-zA-Z_\]"):
        make_job(env_vars={name: "x"})


def test_packageable_converts_args_and_env() -> None:
    packageable = xm.Packageable(
        FakeExecutableSpec(), FakeExecutor.Spec(), args=["a", "b"], env_vars={"X": 1}
    )
    assert packageable.args.to_list() == ["a", "b"]
    assert packageable.env_vars == {"X": 1}


def test_apply_args_merges_after_the_jobs_own_args_and_updates_env() -> None:
    job = make_job(args={"seed": 1, "lr": 0.1}, env_vars={"A": "1", "B": "2"})
    job_blocks.apply_args(job, {"args": {"lr": 0.5, "extra": True}, "env_vars": {"B": "20", "C": 3}})
    assert job.args.to_list() == ["--seed=1", "--lr=0.5", "--extra"]
    assert job.env_vars == {"A": "1", "B": "20", "C": 3}


def test_apply_args_with_only_env_keeps_args() -> None:
    job = make_job(args=["pos"])
    job_blocks.apply_args(job, {"env_vars": {"K": "v"}})
    assert job.args.to_list() == ["pos"]
    assert job.env_vars == {"K": "v"}


@pytest.mark.parametrize("empty", [None, {}])
def test_apply_args_with_nothing_is_a_no_op(empty: dict[str, object] | None) -> None:
    job = make_job(args={"seed": 1})
    job_blocks.apply_args(job, empty)
    assert job.args.to_list() == ["--seed=1"] and job.env_vars == {}


def test_apply_args_rejects_unknown_keys_for_a_job() -> None:
    job = make_job()
    with pytest.raises(ValueError, match=r"only hold 'args' and 'env_vars'.*\['seed'\]"):
        job_blocks.apply_args(job, {"seed": 1})


def test_apply_args_to_group_routes_by_job_name() -> None:
    group = xm.JobGroup(learner=make_job(args={"role": "l"}), actor=make_job(args={"role": "a"}))
    job_blocks.apply_args(group, {"actor": {"args": {"n": 8}, "env_vars": {"X": "1"}}})
    learner, actor = group.jobs["learner"], group.jobs["actor"]
    assert isinstance(learner, xm.Job) and isinstance(actor, xm.Job)
    assert learner.args.to_list() == ["--role=l"] and learner.env_vars == {}
    assert actor.args.to_list() == ["--role=a", "--n=8"] and actor.env_vars == {"X": "1"}


def test_apply_args_to_group_rejects_unknown_job_names_and_lists_known_ones() -> None:
    group = xm.JobGroup(learner=make_job())
    with pytest.raises(ValueError) as error:
        job_blocks.apply_args(group, {"learnr": {"args": {}}})
    assert "learnr" in str(error.value) and "learner" in str(error.value)


def test_apply_args_to_nested_groups() -> None:
    inner = xm.JobGroup(worker=make_job())
    outer = xm.JobGroup(pool=inner, chief=make_job())
    job_blocks.apply_args(outer, {"pool": {"worker": {"args": ["w"]}}})
    worker = inner.jobs["worker"]
    assert isinstance(worker, xm.Job) and worker.args.to_list() == ["w"]
    with pytest.raises(ValueError, match="only hold"):
        job_blocks.apply_args(outer, {"chief": {"bogus": 1}})


def test_apply_args_uses_a_jobs_own_apply_args_hook() -> None:
    seen: list[object] = []

    class CustomJob(xm.JobConfig):
        def apply_args(self, args: object) -> None:
            seen.append(args)

    job_blocks.apply_args(CustomJob(), {"args": {"k": 1}})
    assert seen == [{"args": {"k": 1}}]


def test_shallow_copy_gives_independent_args_and_env() -> None:
    original = make_job(args={"seed": 1}, env_vars={"A": "1"})
    group = xm.JobGroup(main=original)
    copy = job_operators.shallow_copy_job_type(group)
    assert isinstance(copy, xm.JobGroup) and copy is not group
    job_blocks.apply_args(copy, {"main": {"args": {"seed": 2}, "env_vars": {"A": "2"}}})
    assert original.args.to_list() == ["--seed=1"] and original.env_vars == {"A": "1"}
    copied = copy.jobs["main"]
    assert isinstance(copied, xm.Job)
    assert copied.args.to_list() == ["--seed=2"] and copied.env_vars == {"A": "2"}
    assert copied.executable is original.executable  # executables are shared, not copied


def test_shallow_copy_leaves_generators_alone() -> None:
    async def generator(work_unit: object) -> None:
        del work_unit

    assert job_operators.shallow_copy_job_type(generator) is generator


def test_populate_job_names_uses_group_keys_or_the_executable_name_when_unnamed() -> None:
    unnamed, nested, named = make_job(), make_job(), make_job(name="custom")
    job_operators.populate_job_names(xm.JobGroup(a=unnamed, b=xm.JobGroup(c=named, d=nested)))
    assert (unnamed.name, nested.name, named.name) == ("a", "b_d", "custom")
    lone = make_job()
    job_operators.populate_job_names(lone)
    assert lone.name == "trainer"


def test_get_args_for_all_jobs_reaches_every_job_of_nested_groups() -> None:
    group = xm.JobGroup(a=make_job(), b=xm.JobGroup(c=make_job(), d=make_job()))
    assert xm.get_args_for_all_jobs(group, {"logdir": "/l"}) == {
        "a": {"args": {"logdir": "/l"}},
        "b": {"c": {"args": {"logdir": "/l"}}, "d": {"args": {"logdir": "/l"}}},
    }
    assert xm.get_args_for_all_jobs(make_job(), {"k": 1}) == {"args": {"k": 1}}


def test_job_group_keeps_constraints_and_names() -> None:
    class SameMachine(xm.Constraint):
        pass

    constraint = SameMachine()
    group = xm.JobGroup(a=make_job(), b=make_job(), constraints=[constraint])
    assert list(group.jobs) == ["a", "b"] and group.constraints == [constraint]
    assert repr(group) == "JobGroup(a, b)"
