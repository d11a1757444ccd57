"""End to end on the Local executor: package, stage, run, wait, exactly as a launch script does."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from lxm3 import xm, xm_cluster
from tests.hostile import HOSTILE_VALUES

PYPROJECT = """\
[build-system]
requires = ["flit_core>=3.2"]
build-backend = "flit_core.buildapi"

[project]
name = "lxprobe"
version = "0.1.0"
description = "reports what it received"
"""

PROBE = """\
import json, os, sys, time

start = time.time()
keys = [k for k in os.environ.get("PROBE_KEYS", "").split(",") if k]
time.sleep(float(os.environ.get("PROBE_SLEEP", "0")))
record = {
    "argv": sys.argv[1:],
    "env": {k: os.environ.get(k) for k in keys},
    "cwd": os.getcwd(),
    "start": start,
    "end": time.time(),
}
print("LXM3-PROBE " + json.dumps(record))
code = int(os.environ.get("PROBE_EXIT", "0"))
if code:
    sys.stderr.write("probe failing with %d\\n" % code)
sys.exit(code)
"""

MARK = "LXM3-PROBE "


@pytest.fixture(scope="module")
def probe_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("probe") / "lxprobe"
    (root / "lxprobe").mkdir(parents=True)
    (root / "pyproject.toml").write_text(PYPROJECT)
    (root / "lxprobe" / "__init__.py").write_text("")
    (root / "lxprobe" / "main.py").write_text(PROBE)
    return root


def run_units(
    project: Path, jobs: list[Any], executor: xm_cluster.Local | None = None, wait: bool = True
) -> list[xm_cluster.ClusterWorkUnit]:
    """Opens an experiment, adds one work unit per job (built by `jobs[i](executable, executor)`)."""
    executor = executor or xm_cluster.Local(max_parallel=4)
    with xm_cluster.create_experiment("local-e2e") as experiment:
        spec = xm_cluster.PythonPackage(path=str(project), entrypoint=xm_cluster.ModuleName("lxprobe.main"))
        [executable] = experiment.package(
            [
                xm.Packageable(
                    spec,
                    executor_spec=executor.Spec(),
                    env_vars={"PROBE_KEYS": "LXM_TASK_ID,LXM_NUM_TASKS,LXM_WORKDIR"},
                )
            ]
        )
        units = [experiment.add(make(executable, executor)).result(timeout=60) for make in jobs]
        if wait:
            for unit in units:
                unit.wait_until_complete()
    return units  # type: ignore[return-value]


def records(unit: xm_cluster.ClusterWorkUnit) -> list[dict[str, Any]]:
    [job] = unit.jobs
    result = []
    for task in range(job.num_tasks):
        lines = [line for line in Path(job.log_path(task)).read_text().splitlines() if line.startswith(MARK)]
        assert len(lines) == 1, f"task {task} log: {lines}"
        result.append(json.loads(lines[0][len(MARK) :]))
    return result


hostile_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=24)

HOSTILE = HOSTILE_VALUES


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    values=st.lists(hostile_text, min_size=1, max_size=5),
    env_values=st.lists(hostile_text, min_size=1, max_size=3),
)
@example(values=HOSTILE, env_values=HOSTILE[:10])
def test_hostile_args_and_env_reach_the_program_byte_for_byte(
    probe_project: Path, lxm_config: Path, values: list[str], env_values: list[str]
) -> None:
    env_names = [f"HOSTILE_{i}" for i in range(len(env_values))]
    env = dict(zip(env_names, env_values, strict=True), PROBE_KEYS=",".join(env_names))
    task_args: list[Any] = [
        values,
        {f"k{i}": value for i, value in enumerate(values)},
        [*values, *env_values],
    ]
    job = lambda executable, executor: xm_cluster.ArrayJob(  # noqa: E731
        executable, executor, args=task_args, env_vars=[env]
    )
    [unit] = run_units(probe_project, [job])
    got = records(unit)
    assert got[0]["argv"] == values
    assert got[1]["argv"] == [f"--k{i}={value}" for i, value in enumerate(values)]
    assert got[2]["argv"] == [*values, *env_values]
    for record in got:
        assert record["env"] == dict(zip(env_names, env_values, strict=True))
    assert not os.path.exists("/tmp/lxm3-pwned")


def intervals_overlap(spans: list[tuple[float, float]]) -> int:
    events = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    return peak


def test_max_parallel_is_respected(probe_project: Path, lxm_config: Path) -> None:
    job = lambda executable, executor: xm_cluster.ArrayJob(  # noqa: E731
        executable, executor, args=[{"i": i} for i in range(6)], env_vars=[{"PROBE_SLEEP": "0.4"}]
    )
    [unit] = run_units(probe_project, [job], xm_cluster.Local(max_parallel=2))
    spans = [(r["start"], r["end"]) for r in records(unit)]
    assert intervals_overlap(spans) == 2, spans


def test_failing_task_raises_naming_task_exit_code_and_log(probe_project: Path, lxm_config: Path) -> None:
    executor = xm_cluster.Local(max_parallel=3)
    with xm_cluster.create_experiment("failing") as experiment:
        spec = xm_cluster.PythonPackage(
            path=str(probe_project), entrypoint=xm_cluster.ModuleName("lxprobe.main")
        )
        [executable] = experiment.package([xm.Packageable(spec, executor_spec=executor.Spec())])
        unit = experiment.add(
            xm_cluster.ArrayJob(executable, executor, env_vars=[{}, {"PROBE_EXIT": "3"}, {}])
        ).result(timeout=60)
        with pytest.raises(xm.ExperimentUnitFailedError) as error:
            unit.wait_until_complete()
    message = str(error.value)
    log_path = unit.jobs[0].log_path(1, "err")  # type: ignore[attr-defined]
    assert "task 1 exit code 3" in message and log_path in message
    assert "task 0" not in message and "task 2" not in message
    assert "probe failing with 3" in Path(log_path).read_text()
    assert [(f.index, f.exit_code) for f in error.value.failures] == [(1, 3)]  # type: ignore[attr-defined]
    assert unit.get_status().counts() == {"COMPLETED": 2, "FAILED": 1}


def test_each_task_runs_in_a_fresh_work_dir_removed_afterwards(probe_project: Path, lxm_config: Path) -> None:
    job = lambda executable, executor: xm_cluster.ArrayJob(executable, executor, args=[[]] * 3)  # noqa: E731
    [unit] = run_units(probe_project, [job])
    got = records(unit)
    cwds = [r["cwd"] for r in got]
    assert len(set(cwds)) == 3
    for record in got:
        assert record["cwd"] == record["env"]["LXM_WORKDIR"]
        assert record["cwd"] != os.getcwd()
        assert not os.path.exists(record["cwd"])


def test_task_ids_are_zero_based_per_job(probe_project: Path, lxm_config: Path) -> None:
    sweep = lambda executable, executor: xm_cluster.ArrayJob(  # noqa: E731
        executable, executor, args=[{"i": i} for i in range(4)]
    )
    single = lambda executable, executor: xm.Job(executable, executor, args=["only"])  # noqa: E731
    first, second, third = run_units(probe_project, [sweep, single, sweep])
    for unit in (first, third):
        got = records(unit)
        assert [r["env"]["LXM_TASK_ID"] for r in got] == ["0", "1", "2", "3"]
        assert [r["argv"] for r in got] == [[f"--i={i}"] for i in range(4)]
        assert {r["env"]["LXM_NUM_TASKS"] for r in got} == {"4"}
    [only] = records(second)
    assert only["env"]["LXM_TASK_ID"] == "0" and only["argv"] == ["only"]
    assert [u.work_unit_id for u in (first, second, third)] == [1, 2, 3]


def test_env_layers_config_then_packageable_then_job(
    probe_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "lxm.toml"
    config.write_text(
        f'[local.storage]\nstaging = "{tmp_path / "staging"}"\n[local.env]\nFROM_CONFIG = "config"\nLAYER = "config"\n'
    )
    monkeypatch.setenv("LXM_CONFIG", str(config))
    executor = xm_cluster.Local()
    with xm_cluster.create_experiment("env") as experiment:
        spec = xm_cluster.PythonPackage(
            path=str(probe_project), entrypoint=xm_cluster.ModuleName("lxprobe.main")
        )
        [executable] = experiment.package(
            [
                xm.Packageable(
                    spec,
                    executor.Spec(),
                    args={"baked": 1, "seed": 0},
                    env_vars={"PROBE_KEYS": "FROM_CONFIG,LAYER,BAKED", "BAKED": "pkg", "LAYER": "pkg"},
                )
            ]
        )
        unit = experiment.add(
            xm.Job(executable, executor, args={"seed": 5}, env_vars={"LAYER": "job"}),
            args={"args": {"extra": True}},
        ).result(timeout=60)
    [record] = records(unit)  # type: ignore[arg-type]
    assert record["env"] == {"FROM_CONFIG": "config", "LAYER": "job", "BAKED": "pkg"}
    assert record["argv"] == ["--baked=1", "--seed=5", "--extra"]
    assert Path(unit.jobs[0].remote_dir).is_relative_to(tmp_path / "staging")  # type: ignore[attr-defined]


def test_error_in_the_launch_script_stops_running_local_tasks(probe_project: Path, lxm_config: Path) -> None:
    executor = xm_cluster.Local(max_parallel=2)
    started = time.monotonic()
    with (
        pytest.raises(RuntimeError, match="launcher bug"),
        xm_cluster.create_experiment("abort") as experiment,
    ):
        spec = xm_cluster.PythonPackage(
            path=str(probe_project), entrypoint=xm_cluster.ModuleName("lxprobe.main")
        )
        [executable] = experiment.package([xm.Packageable(spec, executor.Spec())])
        unit = experiment.add(
            xm_cluster.ArrayJob(executable, executor, args=[[]] * 4, env_vars=[{"PROBE_SLEEP": "60"}])
        ).result(timeout=60)
        raise RuntimeError("launcher bug")
    assert time.monotonic() - started < 30, "tasks were left running"
    states = {status.state for status in unit.get_status().tasks}
    assert states == {xm.TaskState.CANCELLED}, states
