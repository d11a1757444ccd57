"""The parameter controller end to end, on Local, the real Slurm and the real Grid Engine.

The launcher is `examples/parameter_controller/launcher.py` (preprocess -> two
trains in parallel -> evaluate), launched with `lxm3 launch` as a separate
process that exits once the controller is submitted; everything after that is
observed, as a user would, through new `lxm3` processes and the store.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest

from tests.clusters import on_testbed
from tests.e2e.conftest import (  # noqa: F401 - fixtures
    ALIAS,
    SSH_CONFIG,
    remote_root,
    slurm_cluster,
    slurm_testbed,
    ssh,
)
from tests.e2e.conftest_sge import sge_cluster, sge_remote_root, sge_testbed  # noqa: F401 - fixtures

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "parameter_controller" / "launcher.py"
CONTROLLER = 100001
TIMEOUT = 400.0


@attrs.define
class Where:
    """One backend: the executor flag, how to read the journal and kill the controller's job."""

    executor: str
    config: Path
    read_file: Callable[[str], str]
    kill_job: Callable[[str], None]
    staging: str


def lxm3(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "lxm3.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(os.environ, COLUMNS="300"),  # tables and notes on one line each
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"lxm3 {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result


def _kill_local(job_id: str) -> None:
    os.kill(int(job_id.rsplit("-", 1)[-1]), signal.SIGTERM)


@pytest.fixture(params=on_testbed("local", "slurm", "sge"))
def where(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Where:
    if request.param == "local":
        config = tmp_path / "lxm.toml"
        config.write_text(f'project = "ctl"\n[local.storage]\nstaging = "{tmp_path / "staging"}"\n')
        monkeypatch.setenv("LXM_CONFIG", str(config))
        return Where(
            "local", config, lambda path: Path(path).read_text(), _kill_local, str(tmp_path / "staging")
        )
    cluster = request.getfixturevalue("slurm_cluster" if request.param == "slurm" else "sge_cluster")
    command = "scancel" if request.param == "slurm" else "qdel"
    return Where(
        request.param,
        cluster.config_path,
        cluster.read_file,
        lambda job_id: ssh(f"{command} {job_id}") and None,
        cluster.staging,
    )


def launch(where: Where, *flags: str) -> int:
    """Runs the example launcher to completion (it returns once the controller is submitted)."""
    started = time.monotonic()
    result = lxm3("launch", str(EXAMPLE), "--", f"--executor={where.executor}", *flags)
    assert time.monotonic() - started < 90, "the launcher waited for the pipeline"
    line = next(line for line in result.stdout.splitlines() if line.startswith("experiment "))
    return int(line.split()[1].rstrip(":"))


def status(experiment_id: int) -> dict[int, str]:
    document = json.loads(lxm3("status", str(experiment_id), "--json").stdout)
    return {unit["work_unit_id"]: unit["state"] for unit in document["work_units"]}


def wait_for(experiment_id: int, done: Callable[[dict[int, str]], bool], what: str) -> dict[int, str]:
    deadline = time.monotonic() + TIMEOUT
    states: dict[int, str] = {}
    while time.monotonic() < deadline:
        states = status(experiment_id)
        if done(states):
            return states
        time.sleep(1.0)
    raise AssertionError(f"experiment {experiment_id}: timed out waiting for {what}; states {states}")


def controller_ended(states: dict[int, str]) -> bool:
    return states.get(CONTROLLER) in ("COMPLETED", "FAILED", "CANCELLED")


def stage_record(experiment_id: int, work_unit_id: int) -> dict[str, Any]:
    out = lxm3("logs", str(experiment_id), "--wu", str(work_unit_id)).stdout
    return json.loads(out.strip().splitlines()[-1])


def job_ids(experiment_id: int) -> dict[int, list[str]]:
    from lxm3.xm_cluster import get_experiment

    experiment = get_experiment(experiment_id)
    return {
        work_unit_id: [
            chunk.submitted.job_id for job in unit.jobs for a in job.attempts for chunk in a.chunks
        ]
        for work_unit_id, unit in experiment.work_units.items()
    }


def test_pipeline_runs_in_order_with_the_launcher_gone(where: Where) -> None:
    experiment_id = launch(where, "--sleep=2")
    states = wait_for(experiment_id, controller_ended, "the controller to end")
    assert states == {1: "COMPLETED", 2: "COMPLETED", 3: "COMPLETED", 4: "COMPLETED", CONTROLLER: "COMPLETED"}
    pre, train_a, train_b, evaluate = (stage_record(experiment_id, wu) for wu in (1, 2, 3, 4))
    assert [pre["stage"], train_a["stage"], train_b["stage"], evaluate["stage"]] == [
        "preprocess",
        "train",
        "train",
        "evaluate",
    ]
    assert {train_a["dataset"], train_b["dataset"]} == {"a", "b"}
    assert pre["end"] <= min(train_a["start"], train_b["start"])
    assert max(train_a["end"], train_b["end"]) <= evaluate["start"]
    # Both trains were added before either ended (they run in parallel as far as the cluster lets them).
    journal = where.read_file(f"{where.staging}/experiments/{experiment_id}/controller/journal.jsonl")
    added = [json.loads(line) for line in journal.splitlines()]
    train_added = [e["time"] for e in added if e["event"] == "job" and e["work_unit_id"] in (2, 3)]
    assert len(train_added) == 2 and max(train_added) < min(train_a["end"], train_b["end"])
    # The controller's own log, through the same command as any unit's.
    controller_log = lxm3("logs", str(experiment_id), "--wu", str(CONTROLLER), "--stderr").stdout
    assert "work unit 4: evaluate submitted" in controller_log
    listing = json.loads(lxm3("list", "--json").stdout)
    summary = next(s for s in listing if s["experiment_id"] == experiment_id)
    assert summary["work_units"] == 5 and summary["state"] == "COMPLETED"


def status_round_trips(experiment_id: int) -> tuple[int, int, int]:
    """Remote commands made by `get_experiment` + one status read (what `lxm3 status` does), by
    `lxm3 list`'s summary, and by one plain status refresh of the same jobs. Each starts with
    fresh targets (no connection, no cached state in this process)."""
    from lxm3.cli.list import summarize
    from lxm3.xm_cluster import targets
    from lxm3.xm_cluster.reloaded import ReloadedExperiment, experiment_store, get_experiment

    store = experiment_store()
    targets.close_all(force=True)
    experiment = get_experiment(experiment_id, store=store)
    experiment.task_statuses()
    target = experiment.target_for(experiment.work_units[CONTROLLER].jobs[0].first)
    status_commands = target.transport().commands
    targets.close_all(force=True)
    summarize(store, None)
    record = store.experiment(experiment_id)
    assert record is not None
    # Built without a sync, only to find the (cached) target `summarize` used.
    unsynced = ReloadedExperiment(record, store)
    target = unsynced.target_for(unsynced.work_units[CONTROLLER].jobs[0].first)
    list_commands = target.transport().commands
    target.watcher.refresh()
    return status_commands, list_commands, target.transport().commands - list_commands


def test_cancel_mid_pipeline_stops_the_controller_then_its_units(where: Where) -> None:
    # Trains long enough that the cancel surely lands while they run, however loaded the testbed.
    experiment_id = launch(where, "--sleep=1", "--train_sleep=90")
    wait_for(experiment_id, lambda s: s.get(2) == "RUNNING" or s.get(3) == "RUNNING", "the trains to run")
    if where.executor != "local":
        # The controller's journal rides on the status query: `lxm3 status` and `lxm3 list` of
        # a running pipeline cost the round trips of one plain status refresh, no more.
        status_commands, list_commands, plain = status_round_trips(experiment_id)
        print(
            f"remote commands: lxm3 status {status_commands}, lxm3 list {list_commands}, one refresh {plain}"
        )
        assert (status_commands, list_commands) == (plain, plain), (status_commands, list_commands, plain)
    result = lxm3("cancel", str(experiment_id))
    assert "cancelled" in result.stdout
    states = status(experiment_id)
    assert states[CONTROLLER] == "CANCELLED"
    assert 4 not in states, "a unit was added after the cancel"
    assert states[1] == "COMPLETED"
    time.sleep(3)
    states = wait_for(
        experiment_id, lambda s: all(v in ("COMPLETED", "CANCELLED") for v in s.values()), "everything to end"
    )
    assert 4 not in states and {states[2], states[3]} == {"CANCELLED"}
    assert "controller (work unit 100001) was cancelled" in lxm3("status", str(experiment_id)).stdout


def test_killed_controller_resumes_on_rerun_without_duplicating_units(where: Where) -> None:
    # A cluster may run the two trains one after the other (the controller holds a CPU too).
    experiment_id = launch(where, "--sleep=1", "--train_sleep=20")
    wait_for(experiment_id, lambda s: s.get(2) == "RUNNING" or s.get(3) == "RUNNING", "the trains to run")
    [controller_job] = job_ids(experiment_id)[CONTROLLER]
    where.kill_job(controller_job)
    wait_for(experiment_id, controller_ended, "the killed controller to end")
    result = lxm3("rerun", str(experiment_id), "--failed", timeout=TIMEOUT)
    assert "reruns 1 task(s)" in result.stdout  # the controller only: it re-runs what needs it
    states = wait_for(experiment_id, lambda s: s.get(CONTROLLER) == "COMPLETED", "the resumed controller")
    assert states == {1: "COMPLETED", 2: "COMPLETED", 3: "COMPLETED", 4: "COMPLETED", CONTROLLER: "COMPLETED"}
    ids = job_ids(experiment_id)
    # No unit was added twice (same work unit ids); the completed preprocess was not run again.
    assert len(ids[1]) == 1, ids
    if where.executor != "local":
        # The trains kept running on the cluster: re-attached, not submitted again.
        assert len(ids[2]) == 1 and len(ids[3]) == 1, ids
    controller_log = lxm3("logs", str(experiment_id), "--wu", str(CONTROLLER), "--stderr").stdout
    assert "work unit 1: re-attached" in controller_log


def test_error_in_the_coroutine_fails_the_controller_with_its_traceback(where: Where) -> None:
    experiment_id = launch(where, "--sleep=0.5", "--fail_stage=preprocess")
    states = wait_for(experiment_id, controller_ended, "the controller to end")
    assert states[CONTROLLER] == "FAILED" and states[1] == "FAILED" and 2 not in states
    text = " ".join(lxm3("status", str(experiment_id)).stdout.split())
    assert (
        "controller (work unit 100001) failed: ExperimentUnitFailedError: work unit 1 of experiment" in text
    )
    log = lxm3("logs", str(experiment_id), "--wu", str(CONTROLLER), "--stderr").stdout
    assert "Traceback (most recent call last)" in log


FAKE_RUNTIME = Path(__file__).resolve().parents[1] / "fakes" / "apptainer"
OLD_PYTHON = Path(__file__).resolve().parents[1] / "fakes" / "old-python" / "python3"


def copy_to_cluster(program: Path, directory: str) -> str:
    """Copies a test-only program into `directory` on the cluster (the test user may not read this checkout)."""
    path = f"{directory}/{program.name}"
    setup = f"umask 077 && mkdir -p {shlex.quote(directory)} && cat > {shlex.quote(path)} && chmod 700 {shlex.quote(path)}"
    subprocess.run(
        ["ssh", "-F", SSH_CONFIG, "-o", "BatchMode=yes", ALIAS, "--", setup],
        input=program.read_text(),
        text=True,
        check=True,
        timeout=60,
    )
    return path


def add_to_config(where: Where, env: dict[str, str], singularity_binary: str | None = None) -> None:
    """Adds job env vars (`[local.env]`/`[clusters.env]`) and the cluster's Singularity binary."""
    text = where.config.read_text().rstrip("\n") + "\n"
    section = "local" if where.executor == "local" else "clusters"
    headers = [line for line in text.splitlines() if line.startswith("[")]
    if headers[-1] != f"[{section}.env]":  # the SGE fixture's config ends with its env table
        text += f"[{section}.env]\n"
    text += "".join(f"{key} = {json.dumps(value)}\n" for key, value in env.items())
    if singularity_binary is not None:
        text += f"[clusters.singularity]\nbinary = {json.dumps(singularity_binary)}\n"
    where.config.write_text(text)


# The runner gives the runtime / python3 the same command on every scheduler: Local and Slurm
# show it; Grid Engine runs every other controller test (the suite's 30-minute budget).
@pytest.mark.parametrize("where", on_testbed("local", "slurm"), indirect=True)
def test_controller_in_an_image_runs_through_the_singularity_stand_in(
    where: Where, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`controller_image`: the controller's python3 is the image's, run by the runtime.

    The runtime is tests/fakes/apptainer, a TEST-ONLY stand-in that records its
    argv and runs the command on the host (no Apptainer can be installed here):
    so this shows the command the runner gives the runtime and that the
    pipeline then runs as without an image, not an isolation.
    """
    image = tmp_path / "python.sif"
    image.write_bytes(b"stand-in image\n" * 100)
    if where.executor == "local":
        fake, log = str(FAKE_RUNTIME), str(tmp_path / "fake-apptainer.log")
        monkeypatch.setenv("LXM3_SINGULARITY_BINARY", fake)
    else:
        fake = copy_to_cluster(FAKE_RUNTIME, where.staging + "-fakes")
        log = f"{where.staging}-fakes/fake-apptainer.log"
    add_to_config(where, {"LXM3_FAKE_APPTAINER_LOG": log}, None if where.executor == "local" else fake)
    experiment_id = launch(where, "--sleep=1", f"--controller_image={image}")
    states = wait_for(experiment_id, controller_ended, "the controller to end")
    assert states == {1: "COMPLETED", 2: "COMPLETED", 3: "COMPLETED", 4: "COMPLETED", CONTROLLER: "COMPLETED"}
    records = [json.loads(line) for line in where.read_file(log).splitlines() if line]
    [run] = [r for r in records if r["argv"][1:2] == ["exec"]]
    workdir = run["cwd"]
    digest = hashlib.sha256(image.read_bytes()).hexdigest()
    outputs = f"{where.staging}/experiments/{experiment_id}/{CONTROLLER}/__controller__/outputs/0"
    # As every Singularity job's: the work dir and the task's outputs bound, the image by digest.
    assert run["argv"][1:] == [
        "exec",
        "--no-eval",
        "--bind",
        f"{workdir}:{workdir}",
        "--pwd",
        workdir,
        "--bind",
        f"{outputs}:{outputs}",
        f"{where.staging}/artifacts/{digest}.sif",
        "python3",
        "lxm3_controller_boot.py",
    ]
    assert run["prefixed_env"]["APPTAINERENV_LXM3_CONTROLLER_BUNDLE"].startswith(
        f"{where.staging}/artifacts/"
    )


# The runner gives the runtime / python3 the same command on every scheduler: Local and Slurm
# show it; Grid Engine runs every other controller test (the suite's 30-minute budget).
@pytest.mark.parametrize("where", on_testbed("local", "slurm"), indirect=True)
def test_a_cluster_python_older_than_3_10_fails_the_controller_with_one_line(
    where: Where, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cluster's `python3` is tests/fakes/old-python/python3, a TEST-ONLY stand-in posing as 3.8.

    On Local the controller runs this interpreter's Python unless given an
    image; there the image's python3 is the stand-in (through the stand-in runtime).
    """
    flags = ["--sleep=0.5"]
    path = "/usr/local/bin:/usr/bin:/bin"
    if where.executor == "local":
        image = tmp_path / "python.sif"
        image.write_bytes(b"stand-in image\n")
        monkeypatch.setenv("LXM3_SINGULARITY_BINARY", str(FAKE_RUNTIME))
        flags.append(f"--controller_image={image}")
        add_to_config(where, {"PATH": f"{OLD_PYTHON.parent}:{path}"})
    else:
        old = copy_to_cluster(OLD_PYTHON, where.staging + "-oldpy")
        add_to_config(where, {"PATH": f"{old.rsplit('/', 1)[0]}:{path}"})
    experiment_id = launch(where, *flags)
    states = wait_for(experiment_id, controller_ended, "the controller to end")
    assert states == {CONTROLLER: "FAILED"}, "no unit was added"
    expected = "needs Python >= 3.10 on the cluster; `python3` here is 3.8.18"
    log = lxm3("logs", str(experiment_id), "--wu", str(CONTROLLER), "--stderr").stdout
    [line] = [line for line in log.splitlines() if "lxm3:" in line]
    assert expected in line and "Traceback" not in log
    text = " ".join(lxm3("status", str(experiment_id)).stdout.split())
    assert f"controller (work unit 100001) failed: lxm3: the parameter controller {expected}" in text
