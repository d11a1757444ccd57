"""Hyperparameter search end to end: trials are real jobs on Slurm, Grid Engine and Local.

Each trial runs `objective.py`, which reports `loss` (a known function of its
args) and its own start/end times through $LXM_METRICS_FILE; the study reads
them back through `work_unit.metrics()`.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from pathlib import Path
from typing import Any

import pytest

from lxm3 import xm, xm_cluster
from lxm3.contrib import search
from lxm3.contrib.search import journal as journal_module
from tests.e2e.conftest_sge import sge_cluster, sge_remote_root, sge_testbed

__all__ = ["sge_cluster", "sge_remote_root", "sge_testbed"]  # fixtures

OBJECTIVE = """\
import json, os, sys, time
start = time.time()
args = dict(arg[2:].split("=", 1) for arg in sys.argv[1:])
time.sleep(float(args.get("sleep", "0")))
x, y = float(args["x"]), float(args["y"])
if args.get("fail_above") and x > float(args["fail_above"]):
    sys.exit(3)
with open(os.environ["LXM_METRICS_FILE"], "a") as out:
    out.write(json.dumps({"loss": (x - 1) ** 2 + (y + 2) ** 2, "started": start, "ended": time.time()}) + "\\n")
"""

SPACE = {"x": search.Float(-5, 5), "y": search.Float(-5, 5)}


@pytest.fixture(scope="module")
def objective_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("objective")
    (root / "objective.py").write_text(OBJECTIVE)
    (root / "salt.txt").write_text(secrets.token_hex(8))
    build = root / "build.sh"
    build.write_text('#!/bin/sh\ncp objective.py "$BUILDDIR/"\n')
    build.chmod(0o755)
    return root


def run_study(study: search.Study, executor: xm.Executor, objective_dir: Path, **job_args: Any) -> int:
    """Runs the study in a new experiment (as a launcher would); returns the experiment id."""
    spec = xm_cluster.UniversalPackage(
        path=str(objective_dir), entrypoint=["python3", "objective.py"], build_script="build.sh"
    )

    async def main() -> int:
        async with xm_cluster.create_experiment("search-e2e") as experiment:
            [executable] = experiment.package([xm.Packageable(spec, executor_spec=executor.Spec())])
            await study.run(experiment, xm.Job(executable, executor, args=job_args))
            return experiment.experiment_id

    return asyncio.run(main())


def most_at_once(trials: list[search.Trial]) -> int:
    """The largest number of trials whose own [started, ended] intervals overlap."""
    events = sorted(
        [(t.metrics["started"], 1) for t in trials] + [(t.metrics["ended"], -1) for t in trials],
        key=lambda event: (event[0], event[1]),
    )
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    return peak


@pytest.mark.slurm
@pytest.mark.ssh
@pytest.mark.timeout(600)
def test_tpe_on_slurm_finds_the_minimum_with_at_most_4_running(
    slurm_cluster: Any, objective_dir: Path
) -> None:
    study = search.Study(SPACE, metric="loss", algorithm="tpe", max_trials=30, max_concurrent=4, seed=0)
    run_study(study, xm_cluster.Slurm(), objective_dir, sleep=1)
    assert [t.state for t in study.trials] == ["COMPLETED"] * 30
    assert study.best_value is not None and study.best_value < 1.0, study.best_value
    best = study.best_params
    assert best is not None and abs(best["x"] - 1) < 1 and abs(best["y"] + 2) < 1
    # From the tasks' own clocks: never more than 4 at once, and the cap was used.
    assert 2 <= most_at_once(study.trials) <= 4
    assert len({t.work_unit_id for t in study.trials}) == 30


@pytest.mark.sge
@pytest.mark.ssh
@pytest.mark.timeout(600)
def test_random_search_on_grid_engine_runs_to_completion(sge_cluster: Any, objective_dir: Path) -> None:
    study = search.Study(SPACE, metric="loss", algorithm="random", max_trials=8, max_concurrent=3, seed=1)
    experiment_id = run_study(study, xm_cluster.GridEngine(), objective_dir)
    assert [t.state for t in study.trials] == ["COMPLETED"] * 8
    assert most_at_once(study.trials) <= 3
    values = [t.value for t in study.trials]
    assert study.best_value == min(v for v in values if v is not None)
    reloaded = xm_cluster.get_experiment(experiment_id)
    [(_, settings, trials)] = journal_module.recorded_studies(reloaded)
    assert settings["algorithm"] == "random" and [t.value for t in trials] == values


@pytest.mark.timeout(300)
def test_random_search_on_local_records_failed_trials_and_goes_on(
    lxm_config: Path, objective_dir: Path
) -> None:
    study = search.Study(SPACE, metric="loss", algorithm="random", max_trials=10, max_concurrent=3, seed=2)
    run_study(study, xm_cluster.Local(), objective_dir, fail_above=3)
    failed = [t for t in study.trials if t.state == "FAILED"]
    completed = [t for t in study.trials if t.state == "COMPLETED"]
    assert len(study.trials) == 10
    assert all(t.params["x"] > 3 for t in failed) and all(t.params["x"] <= 3 for t in completed)
    assert all("exit code 3" in t.message for t in failed)


@pytest.mark.timeout(300)
def test_resume_after_an_interrupt_on_local_adds_no_duplicate_trial(
    lxm_config: Path, objective_dir: Path
) -> None:
    def study() -> search.Study:
        return search.Study(SPACE, metric="loss", algorithm="random", max_trials=8, max_concurrent=2, seed=4)

    first = study()
    spec = xm_cluster.UniversalPackage(
        path=str(objective_dir), entrypoint=["python3", "objective.py"], build_script="build.sh"
    )

    async def interrupted() -> int:
        async with xm_cluster.create_experiment("search-resume") as experiment:
            [executable] = experiment.package([xm.Packageable(spec, executor_spec=xm_cluster.Local.Spec())])
            job = xm.Job(executable, xm_cluster.Local(), args={"sleep": 0.5})
            task = asyncio.ensure_future(first.run(experiment, job))
            while sum(1 for t in first.trials if t.finished) < 3:
                await asyncio.sleep(0.05)
            task.cancel()  # Ctrl-C in the launcher
            with pytest.raises(asyncio.CancelledError):
                await task
            return experiment.experiment_id

    experiment_id = asyncio.run(interrupted())
    recorded = json.loads(
        journal_module.journal_path(xm_cluster.get_experiment(experiment_id), "study").read_text()
    )["trials"]
    assert 3 <= len(recorded) < 8

    second = study()

    async def resumed() -> None:
        async with xm_cluster.create_experiment("search-resume", experiment_id=experiment_id) as experiment:
            [executable] = experiment.package([xm.Packageable(spec, executor_spec=xm_cluster.Local.Spec())])
            await second.run(experiment, xm.Job(executable, xm_cluster.Local(), args={"sleep": 0.5}))

    asyncio.run(resumed())
    assert [t.number for t in second.trials] == list(range(8))
    assert all(t.state == "COMPLETED" for t in second.trials), [(t.state, t.message) for t in second.trials]
    units = xm_cluster.get_experiment(experiment_id).work_units
    units = units() if callable(units) else units
    # One work unit per trial: nothing submitted twice across the interrupt.
    assert sorted(units) == sorted(t.work_unit_id for t in second.trials) == list(range(1, 9))
