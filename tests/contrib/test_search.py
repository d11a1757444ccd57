"""The search logic (space, algorithms, concurrency, failures, resume) on an in-process backend."""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

import pytest

from lxm3.contrib import search
from lxm3.contrib.search import journal as journal_module
from lxm3.contrib.search.algorithms import GridSearch, RandomSearch
from tests.contrib.fake_backend import FakeExperiment, fake_job

SPACE = {
    "lr": search.Float(1e-5, 1e-1, log=True),
    "layers": search.Int(1, 8),
    "opt": search.Categorical(["adam", "sgd"]),
}


def quadratic(params: dict[str, Any]) -> float:
    return (math.log10(params["lr"]) + 3) ** 2 + (params["layers"] - 5) ** 2 + (params["opt"] == "sgd")


def run(study: search.Study, experiment: FakeExperiment) -> search.Study:
    async def main() -> search.Study:
        async with experiment:
            return await study.run(experiment, fake_job())

    return asyncio.run(main())


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: search.Float(1.0, 1.0), "low must be smaller"),
        (lambda: search.Float(0.0, 1.0, log=True), "log scale needs low > 0"),
        (lambda: search.Int(1.5, 3), "must be integers"),  # type: ignore[arg-type]
        (lambda: search.Categorical([]), "non-empty"),
        (lambda: search.Categorical("ab"), "non-empty list"),
        (lambda: search.Study(SPACE, metric="loss", goal="lowest"), "goal must be"),
        (lambda: search.Study(SPACE, metric="loss", algorithm="bayes"), "unknown search algorithm"),
        (lambda: search.Study(SPACE, metric="loss", max_concurrent=0), "max_concurrent"),
        (lambda: search.Study({"x": 3}, metric="loss"), "space['x'] must be"),
    ],
)
def test_bad_input_is_one_clear_error(build: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        build()


def test_grid_enumerates_every_point_in_order() -> None:
    grid = GridSearch({"a": search.Int(1, 2), "b": search.Categorical(["x", "y", "z"])})
    points = [grid.ask(n) for n in range(7)]
    assert points[:6] == [
        {"a": 1, "b": "x"},
        {"a": 1, "b": "y"},
        {"a": 1, "b": "z"},
        {"a": 2, "b": "x"},
        {"a": 2, "b": "y"},
        {"a": 2, "b": "z"},
    ]
    assert points[6] is None
    with pytest.raises(ValueError, match="grid search needs a step"):
        GridSearch({"lr": search.Float(0.1, 1.0)})
    assert GridSearch({"lr": search.Float(0.1, 0.3, step=0.1)}).ask(2) == {"lr": pytest.approx(0.3)}


def test_random_params_depend_only_on_seed_and_number() -> None:
    first, again, other = RandomSearch(SPACE, 7), RandomSearch(SPACE, 7), RandomSearch(SPACE, 8)
    assert [first.ask(n) for n in range(5)] == [again.ask(n) for n in (0, 1, 2, 3, 4)]
    assert first.ask(3) == again.ask(3)  # asked out of order: same point
    assert [first.ask(n) for n in range(5)] != [other.ask(n) for n in range(5)]
    for n in range(200):
        params = first.ask(n)
        assert params is not None
        assert (
            1e-5 <= params["lr"] <= 1e-1 and 1 <= params["layers"] <= 8 and params["opt"] in ("adam", "sgd")
        )


def test_concurrency_is_capped_and_trials_refill_as_soon_as_one_ends() -> None:
    # Trial 0 is slow; the others are quick: without waves, quick trials keep flowing past it.
    experiment = FakeExperiment(quadratic, duration=lambda p: 1.0 if p["layers"] == 1 else 0.05)
    study = search.Study(
        {"layers": search.Int(1, 8)}, metric="loss", algorithm="grid", max_trials=8, max_concurrent=3
    )
    experiment.objective = lambda p: float(p["layers"])
    run(study, experiment)
    assert experiment.peak == 3 and study.peak_running == 3
    assert [t.state for t in study.trials] == ["COMPLETED"] * 8
    slow = next(t for t in study.trials if t.params["layers"] == 1)
    # Every other trial was submitted while the slow one still ran.
    assert all(t.submitted_at < slow.ended_at for t in study.trials)  # type: ignore[operator]
    assert study.best_value == 1.0 and study.best_params == {"layers": 1}


def test_random_search_runs_to_completion_and_records_every_trial() -> None:
    experiment = FakeExperiment(quadratic)
    study = search.Study(SPACE, metric="loss", algorithm="random", max_trials=12, max_concurrent=4, seed=1)
    run(study, experiment)
    assert len(study.trials) == 12 and {t.state for t in study.trials} == {"COMPLETED"}
    assert sorted(t.work_unit_id for t in study.trials) == list(range(1, 13))
    assert study.best_value == min(t.value for t in study.trials)  # type: ignore[type-var]
    recorded = json.loads(journal_module.journal_path(experiment, "study").read_text())
    assert [t["value"] for t in recorded["trials"]] == [t.value for t in study.trials]


def test_tpe_finds_the_minimum_of_a_known_function() -> None:
    experiment = FakeExperiment(lambda p: (p["x"] - 0.7) ** 2 + (p["y"] + 0.2) ** 2)
    study = search.Study(
        {"x": search.Float(-2, 2), "y": search.Float(-2, 2)},
        metric="loss",
        algorithm="tpe",
        max_trials=40,
        max_concurrent=4,
        seed=0,
    )
    run(study, experiment)
    random_study = search.Study(
        {"x": search.Float(-2, 2), "y": search.Float(-2, 2)},
        metric="loss",
        algorithm="random",
        max_trials=40,
        seed=0,
        name="r",
    )
    run(random_study, FakeExperiment(experiment.objective, experiment_id=4243))
    assert study.best_value is not None and study.best_value < 0.05
    assert study.best_value <= random_study.best_value  # type: ignore[operator]


def test_failed_trials_are_recorded_and_the_search_goes_on() -> None:
    def objective(params: dict[str, Any]) -> Any:
        if params["layers"] == 3:
            return RuntimeError("diverged")
        if params["layers"] == 4:
            return None  # ran, but reported no loss
        return float(params["layers"])

    study = search.Study({"layers": search.Int(1, 8)}, metric="loss", algorithm="grid", max_trials=8)
    run(study, FakeExperiment(objective))
    states = {t.params["layers"]: (t.state, t.message) for t in study.trials}
    assert states[3][0] == "FAILED" and "diverged" in states[3][1]
    assert states[4] == ("FAILED", "reported no numeric 'loss' to $LXM_METRICS_FILE")
    assert sum(1 for t in study.trials if t.state == "COMPLETED") == 6


def test_more_than_half_failing_stops_with_a_clear_error() -> None:
    study = search.Study(
        {"layers": search.Int(1, 8)}, metric="loss", algorithm="grid", max_trials=8, max_concurrent=2
    )
    with pytest.raises(search.SearchError, match=r"stopped: 5 of 8 trials failed \(more than half\)"):
        run(study, FakeExperiment(lambda p: RuntimeError("boom")))
    assert len(study.trials) < 8  # it stopped asking


def test_resume_after_an_interrupt_adds_no_duplicate_trial() -> None:
    experiment = FakeExperiment(lambda p: float(p["layers"]), duration=lambda p: 0.05)

    def study() -> search.Study:
        return search.Study(
            {"layers": search.Int(1, 10)},
            metric="loss",
            algorithm="random",
            max_trials=10,
            max_concurrent=2,
            seed=3,
        )

    interrupted, resumed = study(), study()
    counts: dict[str, int] = {}

    async def interrupt_then_resume() -> None:
        # One event loop for both runs: the fake's jobs, like a cluster's, outlive the interrupted run.
        async with experiment:
            task = asyncio.ensure_future(interrupted.run(experiment, fake_job()))
            while sum(1 for t in interrupted.trials if t.finished) < 4:
                await asyncio.sleep(0.01)
            task.cancel()  # as Ctrl-C would
            with pytest.raises(asyncio.CancelledError):
                await task
            counts["before"] = len(
                experiment.work_units() if callable(experiment.work_units) else experiment.work_units
            )
            counts["recorded"] = len(
                json.loads(journal_module.journal_path(experiment, "study").read_text())["trials"]
            )
            await resumed.run(experiment, fake_job())
            counts["after"] = len(
                experiment.work_units() if callable(experiment.work_units) else experiment.work_units
            )

    asyncio.run(interrupt_then_resume())
    assert 4 <= counts["recorded"] < 10
    assert [t.number for t in resumed.trials] == list(range(10))
    assert all(t.state == "COMPLETED" for t in resumed.trials)
    assert len({t.work_unit_id for t in resumed.trials}) == 10
    # Only the trials never submitted before the interrupt got new work units.
    assert counts["after"] == 10 and counts["before"] >= 4
    # Same seed, same numbers: the params the uninterrupted study would have asked for.
    fresh = RandomSearch({"layers": search.Int(1, 10)}, 3)
    assert [t.params for t in resumed.trials] == [fresh.ask(n) for n in range(10)]


def test_a_changed_study_is_not_silently_mixed_with_the_recorded_one() -> None:
    experiment = FakeExperiment(lambda p: 1.0)
    run(search.Study({"a": search.Int(1, 3)}, metric="loss", algorithm="grid", max_trials=2), experiment)
    with pytest.raises(search.SearchError, match="recorded with"):
        run(search.Study({"a": search.Int(1, 3)}, metric="acc", algorithm="grid", max_trials=2), experiment)
