"""The parameter controller's pieces: journal, store import, bundle, bootstrap, decorator.

The whole controller runs end to end in tests/e2e/test_controller_e2e.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from lxm3 import xm, xm_cluster
from lxm3.contrib import parameter_controller
from lxm3.store.db import ExperimentStore
from lxm3.xm_cluster.controller import ARGS_KEY, boot, journal, sync
from lxm3.xm_cluster.controller.bundle import build_bundle
from lxm3.xm_cluster.controller.journal import Journal, JournalStore


def _record(name: str, job_id: str, executor: object = None) -> dict[str, object]:
    return {
        "name": name,
        "target": "testcluster",
        "scheduler": "slurm",
        "num_tasks": 1,
        "remote_dir": f"/scratch/s/experiments/7/1/{name}",
        "local_dir": f"/scratch/s/experiments/7/1/{name}",
        "artifacts": ["runtime/task_runner-abc.py"],
        "submitted": [{"job_id": job_id, "offset": 0, "count": 1, "script": "/scratch/s/job-0.sh"}],
        "executor": executor if executor is not None else xm_cluster.Slurm(),
        "label": f"7_1_{name}",
    }


def test_journal_round_trip_skips_a_torn_line_and_replays_the_latest_job(tmp_path: Path) -> None:
    log = Journal(str(tmp_path / "controller"))
    log.append("start", attempt=1)
    log.append("job", work_unit_id=1, record=journal.jsonable_record(_record("train", "11")))
    log.append("job", work_unit_id=1, record=journal.jsonable_record(_record("train", "12")))
    with open(log.path, "a") as handle:
        handle.write('{"event": "job", "work_unit_id": 2, "rec')  # the node died mid-write
    events = log.read()
    assert [e["event"] for e in events] == ["start", "job", "job"]
    replay = journal.replayable_jobs(events)
    assert list(replay) == [1] and replay[1][0]["submitted"][0]["job_id"] == "12"
    restored = journal.store_record(replay[1][0])
    assert isinstance(restored["executor_pickle"], bytes) and "Slurm(" in str(restored["executor"])


def test_journal_store_keeps_the_workstation_ids_and_journals_every_write(tmp_path: Path) -> None:
    log = Journal(str(tmp_path / "controller"))
    store = JournalStore(tmp_path / "scratch.sqlite3", log, 7, "feedbeef")
    assert store.create_experiment("ignored") == 7 and store.identity == "feedbeef"
    store.add_work_unit(7, 1, {"lr": 0.1})
    store.add_job(7, 1, _record("train", "11"))
    unit, job = log.read()
    assert unit == {**unit, "event": "unit", "work_unit_id": 1, "args": {"lr": 0.1}}
    assert job["record"]["owner"][0] == os.getpid()


def test_import_is_idempotent_and_points_local_dirs_at_the_mirror(tmp_path: Path) -> None:
    log = Journal(str(tmp_path / "controller"))
    log.append("start", attempt=1)
    log.append("unit", work_unit_id=1, args={"lr": 0.1})
    log.append("job", work_unit_id=1, record=journal.jsonable_record(_record("train", "11")))
    log.append("end", state="FAILED", error="ValueError: boom")
    store = ExperimentStore(tmp_path / "store.sqlite3")
    experiment_id = store.create_experiment("t")
    events = [e for e in log.read()]
    for event in events:
        if "record" in event:
            event["record"]["remote_dir"] = f"/scratch/s/experiments/{experiment_id}/1/train"
    mirror = tmp_path / "mirror"
    assert sync.import_events(store, experiment_id, events, mirror_root=mirror) == 1
    assert sync.import_events(store, experiment_id, events, mirror_root=mirror) == 0
    [row] = store.jobs(experiment_id)
    assert row["local_dir"] == str(mirror / f"experiments/{experiment_id}/1/train")
    assert row["executor_pickle"] is not None and row["submitted"][0]["job_id"] == "11"
    assert store.work_units(experiment_id)[0]["args"] == {"lr": 0.1}
    assert sync.outcome(events) == {"attempt": 1, "state": "FAILED", "error": "ValueError: boom"}


def test_controller_units_are_found_by_their_args(tmp_path: Path) -> None:
    store = ExperimentStore(tmp_path / "store.sqlite3")
    experiment_id = store.create_experiment("t")
    store.add_work_unit(experiment_id, 1, {"lr": 0.1})
    store.add_work_unit(experiment_id, 100001, {ARGS_KEY: {"name": "__controller__"}})
    assert sync.controller_units(store, experiment_id) == {100001: {"name": "__controller__"}}
    assert sync.staging_root("/s/root/experiments/3/1/train", 3) == "/s/root"


def test_bundle_is_pure_python_content_addressed_and_cached() -> None:
    first = build_bundle()
    assert build_bundle() == first
    with zipfile.ZipFile(first.path) as archive:
        names = archive.namelist()
    for package in ("lxm3/xm_cluster/controller/runtime.py", "attrs/__init__.py", "jinja2/__init__.py"):
        assert package in names
    assert "absl/flags/__init__.py" in names and "markupsafe/__init__.py" in names
    assert not [name for name in names if name.endswith(".so") or "__pycache__" in name]


def test_boot_unpacks_the_bundle_once_and_a_bare_python_imports_lxm3_from_it(tmp_path: Path) -> None:
    bundle = build_bundle()
    staging = tmp_path / "staging"
    (staging / "artifacts").mkdir(parents=True)
    copy = staging / "artifacts" / bundle.file_name
    copy.write_bytes(bundle.path.read_bytes())
    unpacked = boot.unpack(str(copy))
    assert unpacked == str(staging / "runtime" / f"lxm3-bundle-{bundle.digest[:12]}")
    assert boot.unpack(str(copy)) == unpacked
    # The system's python3 (no lxm3 installed), isolated from this venv: lxm3 comes from the bundle.
    python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
    code = "import sys; sys.path.insert(0, sys.argv[1]); import lxm3.xm_cluster, jinja2; print(lxm3.__file__)"
    result = subprocess.run([python, "-I", "-c", code, unpacked], capture_output=True, text=True, check=True)
    assert result.stdout.strip().startswith(unpacked)


def test_boot_names_the_python_version_when_it_is_too_old(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(boot, "MIN_VERSION", (99, 0))
    assert boot.main() == 2  # no spec here: the line goes to the log only
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert f"needs Python >= 99.0 on the cluster; `python3` here is {sys.version.split()[0]}" in error
    # In a controller's work dir, the journal says so too (it is what `lxm3 status` prints).
    journal_dir = tmp_path / "experiments" / "7" / "controller"
    (tmp_path / "lxm3_controller.json").write_text(json.dumps({"journal_dir": str(journal_dir)}))
    monkeypatch.chdir(tmp_path)
    assert boot.main() == 2
    [line] = capsys.readouterr().err.splitlines()
    events = journal.parse((journal_dir / "journal.jsonl").read_text())
    assert sync.outcome(events) == {"state": "FAILED", "error": line}


def test_the_decorator_makes_an_auxiliary_unit_job() -> None:
    @parameter_controller.controller(executor=xm_cluster.Local(), controller_args={"n": 3})
    async def pipeline(experiment: xm.Experiment, size: int) -> None:
        del experiment, size

    job = pipeline(size=2)
    assert isinstance(job, xm.AuxiliaryUnitJob)
    call = job._job.__lxm3_controller__
    assert call.kwargs == {"size": 2} and call.options.controller_args == {"n": 3}
    with pytest.raises(TypeError, match="async def"):
        parameter_controller.controller(executor=xm_cluster.Local())(lambda experiment: None)  # type: ignore[arg-type]


def test_spec_flags_keep_the_launch_flags_without_its_config(monkeypatch: pytest.MonkeyPatch) -> None:
    from lxm3.xm_cluster.controller.launch import _launcher_argv

    monkeypatch.setattr(sys, "argv", ["l.py", "--lxm_config", "/ws/lxm.toml", "--sleep=2", "--lxm_config=/x"])
    assert _launcher_argv({"n": 3, "fast": True, "slow": False}) == [
        "--sleep=2",
        "--n=3",
        "--fast",
        "--noslow",
    ]
    assert json.dumps(_launcher_argv({}))


EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "parameter_controller" / "launcher.py"


def test_a_controller_image_runs_the_controller_with_its_python3_as_singularity_jobs_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = tmp_path / "python.sif"
    image.write_bytes(b"stand-in image bytes\n" * 10)
    digest = hashlib.sha256(image.read_bytes()).hexdigest()
    config = tmp_path / "lxm.toml"
    config.write_text(
        f'project = "t"\n[local.storage]\nstaging = "{tmp_path / "local"}"\n'
        '[[clusters]]\nname = "cl"\nserver = "nohost.invalid"\n'
        '[clusters.storage]\nstaging = "/cluster/home/me/staging"\n'
        '[clusters.singularity]\nbinary = "/opt/apptainer/bin/apptainer"\n'
        'binds = [{src = "/scratch", dest = "/scratch"}]\n'
    )
    monkeypatch.setenv("LXM_CONFIG", str(config))
    result = subprocess.run(
        [
            *(sys.executable, "-m", "lxm3.cli.main", "launch", "--dry-run", str(EXAMPLE), "--"),
            *("--executor=slurm", f"--controller_image={image}"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    command = lines[lines.index(next(line for line in lines if line.startswith("# container command"))) + 1]
    # The runner's own Singularity command (workdir bound and used, the cluster's binds), the
    # image deployed by digest like any .sif, then the image's python3 and the controller's boot.
    assert shlex.split(command[len("#   ") :]) == [
        "/opt/apptainer/bin/apptainer",
        "exec",
        "--no-eval",
        "--bind",
        "<workdir>:<workdir>",
        "--pwd",
        "<workdir>",
        "--bind",
        "/scratch:/scratch",
        f"/cluster/home/me/staging/artifacts/{digest}.sif",
        "python3",
        "lxm3_controller_boot.py",
    ]
    sent = [line.strip("# ") for line in lines if line.startswith("#   artifacts/")]
    assert f"artifacts/{digest}.sif" in sent
    assert len([name for name in sent if name.endswith(".zip")]) >= 2, (
        "the launcher package and the lxm3 bundle"
    )


def test_controller_image_accepts_a_singularity_container_and_refuses_junk() -> None:
    from lxm3.xm_cluster.controller.launch import controller_container
    from lxm3.xm_cluster.executables import ContainerImage

    spec = xm_cluster.SingularityContainer(
        xm_cluster.PythonPackage(xm.ModuleName("m"), path="."), image_path="docker://python:3.11"
    )

    @parameter_controller.controller(executor=xm_cluster.Slurm(), controller_image=spec)
    async def pipeline(experiment: xm.Experiment) -> None:
        del experiment

    options = pipeline()._job.__lxm3_controller__.options
    assert options.controller_image == "docker://python:3.11"
    assert controller_container(options) == ContainerImage(uri="docker://python:3.11")
    with pytest.raises(TypeError, match="controller_image must be an image path"):
        parameter_controller.controller(executor=xm_cluster.Slurm(), controller_image=" ")
