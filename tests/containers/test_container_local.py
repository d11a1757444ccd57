"""Local executor + containers, end to end through the TEST-ONLY fake runtimes.

The fakes (tests/fakes/apptainer, tests/fakes/docker) record argv and run the
command on the host; no real Apptainer, Singularity, Docker or Podman runs
here. What is proven: the command line lxm3 builds, and that args and env
reach the program byte for byte through the channels the real runtimes use
(APPTAINERENV_ variables; `docker run -e KEY`).
"""

from __future__ import annotations

import hashlib
import os
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lxm3 import xm, xm_cluster

from .conftest import HOSTILE, Sandbox, actions, hostile_env, read_log
from .launch_helpers import launch

pytestmark = pytest.mark.timeout(180)


def _probe(box: Sandbox) -> xm_cluster.PythonPackage:
    return xm_cluster.PythonPackage(entrypoint=xm_cluster.ModuleName("probe.main"), path=str(box.project))


def _image(box: Sandbox, size: int = 4096) -> Path:
    image = box.root / "env.sif"
    image.write_bytes(bytes(range(256)) * (size // 256))
    return image


def _check_outputs(box: Sandbox, tasks: list[tuple[list[str], dict[str, str]]]) -> None:
    outputs = box.outputs()
    assert sorted(outputs) == list(range(len(tasks)))
    for task_id, (args, env) in enumerate(tasks):
        got = outputs[task_id]
        assert got["argv"] == args
        for key, value in env.items():
            assert got["env"][key] == value, key
        assert got["env"]["LXM_TASK_ID"] == str(task_id)
        assert got["cwd"] == got["env"]["LXM_WORKDIR"]


def test_singularity_sweep_delivers_hostile_args_and_env_byte_for_byte(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LXM3_FAKE_APPTAINER_ISOLATE", "1")  # the program sees only the prefixed channel
    image = _image(sandbox)
    tasks = [
        (list(HOSTILE), {**hostile_env(0), "PROBE_DIR": str(sandbox.out)}),
        (list(reversed(HOSTILE)), {**hostile_env(3), "PROBE_DIR": str(sandbox.out)}),
    ]
    spec = xm_cluster.SingularityContainer(_probe(sandbox), image_path="env.sif")
    launch(spec, xm_cluster.Local(max_parallel=2), [t[0] for t in tasks], [t[1] for t in tasks])
    _check_outputs(sandbox, tasks)

    calls = sorted(
        actions(sandbox.apptainer_log), key=lambda e: e["prefixed_env"]["APPTAINERENV_LXM_TASK_ID"]
    )
    assert len(calls) == 2
    for task_id, call in enumerate(calls):
        argv = call["argv"]
        workdir = call["prefixed_env"]["APPTAINERENV_LXM_WORKDIR"]
        digest = hashlib.sha256(image.read_bytes()).hexdigest()
        outputs = call["prefixed_env"]["APPTAINERENV_LXM_OUTPUT_DIR"]
        assert argv[1:] == [
            "exec",
            "--no-eval",
            "--bind",
            f"{workdir}:{workdir}",
            "--pwd",
            workdir,
            "--bind",
            f"{outputs}:{outputs}",  # LXM_OUTPUT_DIR is the same path inside
            f"{sandbox.staging}/artifacts/{digest}.sif",
            "python3",
            "-m",
            "probe.main",
            *tasks[task_id][0],
        ]
        for key, value in tasks[task_id][1].items():
            assert call["prefixed_env"][f"APPTAINERENV_{key}"] == value
        assert call["prefixed_env"]["APPTAINERENV_PYTHONPATH"].split(os.pathsep)[0] == workdir
    assert not Path("/tmp/lxm3-pwned").exists()


def test_gpu_job_gets_nv_and_cpu_job_does_not(sandbox: Sandbox) -> None:
    _image(sandbox)
    spec = xm_cluster.SingularityContainer(_probe(sandbox), image_path="env.sif")
    env = {"PROBE_DIR": str(sandbox.out)}
    launch(spec, xm_cluster.Local(xm.JobRequirements(gpu=1)), [["gpu"]], [env])
    launch(spec, xm_cluster.Local(xm.JobRequirements(cpu=1)), [["cpu"]], [env])
    calls = {call["argv"][-1]: call["argv"] for call in actions(sandbox.apptainer_log)}
    assert calls["gpu"][1:3] == ["exec", "--nv"]
    assert "--nv" not in calls["cpu"]


def test_binds_and_extra_options_follow_the_workdir(sandbox: Sandbox, tmp_path: Path) -> None:
    _image(sandbox)
    data = tmp_path / "data"
    data.mkdir()
    executor = xm_cluster.Local(
        singularity_options=xm_cluster.SingularityOptions(
            bind={str(data): str(data)}, extra_options=["--cleanenv"]
        )
    )
    spec = xm_cluster.SingularityContainer(_probe(sandbox), image_path="env.sif")
    # --cleanenv: only the APPTAINERENV_ channel carries the env, as with the real runtime.
    launch(spec, executor, [["x"]], [{"PROBE_DIR": str(sandbox.out), "HOSTILE_A": "$(id)\n"}])
    [call] = actions(sandbox.apptainer_log)
    argv = call["argv"]
    position = argv.index("--pwd")
    outputs = call["prefixed_env"]["APPTAINERENV_LXM_OUTPUT_DIR"]
    assert argv[position + 2 : position + 8] == [
        "--bind",
        f"{data}:{data}",
        "--bind",
        f"{outputs}:{outputs}",
        "--cleanenv",
        argv[position + 7],
    ]
    assert sandbox.outputs()[0]["env"]["HOSTILE_A"] == "$(id)\n"


def test_runtime_without_no_eval_gets_no_such_flag(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LXM3_FAKE_APPTAINER_VERSION", "singularity version 3.8.7-1.el7")
    _image(sandbox)
    spec = xm_cluster.SingularityContainer(_probe(sandbox), image_path="env.sif")
    launch(spec, xm_cluster.Local(), [["x"]], [{"PROBE_DIR": str(sandbox.out)}])
    [call] = actions(sandbox.apptainer_log)
    assert "--no-eval" not in call["argv"]


def test_binary_override_by_environment(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    other = tmp_path / "bin" / "singularity"
    other.parent.mkdir()
    other.symlink_to(Path(__file__).resolve().parents[1] / "fakes" / "apptainer")
    monkeypatch.setenv("LXM3_SINGULARITY_BINARY", str(other))
    _image(sandbox)
    spec = xm_cluster.SingularityContainer(_probe(sandbox), image_path="env.sif")
    launch(spec, xm_cluster.Local(), [["x"]], [{"PROBE_DIR": str(sandbox.out)}])
    [call] = actions(sandbox.apptainer_log)
    assert call["argv"][0] == str(other)
    # A `singularity` that is Apptainer underneath takes APPTAINERENV_ variables.
    assert "APPTAINERENV_PROBE_DIR" in call["prefixed_env"]


def test_missing_runtime_fails_the_task_with_a_clear_message(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    _image(sandbox)
    spec = xm_cluster.SingularityContainer(_probe(sandbox), image_path="env.sif")
    monkeypatch.setenv("LXM3_SINGULARITY_BINARY", "/nonexistent/apptainer")
    with pytest.raises(xm.ExperimentUnitFailedError):
        launch(spec, xm_cluster.Local(), [["x"]], [{"PROBE_DIR": str(sandbox.out)}])
    [err] = list(sandbox.staging.glob("experiments/*/*/*/logs/0.err"))
    assert (
        "lxm3: container: container runtime '/nonexistent/apptainer' (from $LXM3_SINGULARITY_BINARY)"
        in err.read_text()
    )


def test_docker_container_passes_env_with_bare_e_flags(sandbox: Sandbox) -> None:
    tasks = [(list(HOSTILE), {**hostile_env(1), "PROBE_DIR": str(sandbox.out)})]
    spec = xm_cluster.DockerContainer(_probe(sandbox), image="python:3.11-slim")
    launch(spec, xm_cluster.Local(), [t[0] for t in tasks], [t[1] for t in tasks])
    _check_outputs(sandbox, tasks)  # the fake gives the program ONLY the -e variables
    [call] = [entry for entry in read_log(sandbox.docker_log) if entry["argv"][1:2] == ["run"]]
    argv = call["argv"]
    workdir = sandbox.outputs()[0]["cwd"]
    keys = sorted(
        [
            *tasks[0][1],
            "LXM_METRICS_FILE",
            "LXM_NUM_TASKS",
            "LXM_OUTPUT_DIR",
            "LXM_TASK_ID",
            "LXM_WORKDIR",
            "PYTHONPATH",
        ]
    )
    outputs = argv[argv.index("--entrypoint") - 1].split(":")[0]
    assert outputs.endswith("/outputs/0"), outputs  # LXM_OUTPUT_DIR, bound at the same path
    expected = [
        "run",
        "--rm",
        "--init",
        "--user",
        f"{os.getuid()}:{os.getgid()}",
        "-v",
        f"{workdir}:{workdir}",
        "-w",
        workdir,
    ]
    for key in keys:
        expected += ["-e", key]  # no values on the command line: the client copies them from its env
    expected += ["-v", f"{outputs}:{outputs}"]
    expected += ["--entrypoint", "python3", "python:3.11-slim", "-m", "probe.main", *HOSTILE]
    assert argv[1:] == expected


def test_xm_container_runs_the_image_entrypoint_with_docker_on_local(sandbox: Sandbox) -> None:
    launch(xm.Container(image_path="docker://busybox:1.36"), xm_cluster.Local(), [["echo", "a b"]], [{}])
    [call] = [entry for entry in read_log(sandbox.docker_log) if entry["argv"][1:2] == ["run"]]
    assert call["argv"][-3:] == ["busybox:1.36", "echo", "a b"]
    assert "--entrypoint" not in call["argv"]


def test_xm_container_falls_back_to_apptainer_run_without_docker(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    only_apptainer = tmp_path / "only"
    only_apptainer.mkdir()
    (only_apptainer / "apptainer").symlink_to(Path(__file__).resolve().parents[1] / "fakes" / "apptainer")
    monkeypatch.setenv("PATH", f"{only_apptainer}{os.pathsep}/usr/bin{os.pathsep}/bin")
    launch(xm.Container(image_path="busybox:1.36"), xm_cluster.Local(), [["true"]], [{}])
    [call] = actions(sandbox.apptainer_log)
    assert call["argv"][1:3] == ["run", "--no-eval"]
    assert call["argv"][-2:] == ["docker://busybox:1.36", "true"]


def test_dry_run_prints_the_container_command(sandbox: Sandbox) -> None:
    _image(sandbox)
    launcher = sandbox.root / "launch.py"
    launcher.write_text(
        textwrap.dedent(
            f"""
            from lxm3 import xm, xm_cluster
            PROJECT = {str(sandbox.project)!r}
            with xm_cluster.create_experiment("dry") as experiment:
                executor = xm_cluster.Local(xm.JobRequirements(gpu=1))
                spec = xm_cluster.SingularityContainer(
                    xm_cluster.PythonPackage(entrypoint=xm_cluster.ModuleName("probe.main"), path=PROJECT),
                    image_path="env.sif",
                )
                [executable] = experiment.package([xm.Packageable(spec, executor_spec=executor.Spec())])
                experiment.add(xm_cluster.ArrayJob(executable=executable, executor=executor, args=[["it's", "$HOME"]]))
            """
        )
    )
    result = subprocess.run(
        [sys.executable, "-m", "lxm3.cli.main", "launch", "--dry-run", str(launcher)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    position = lines.index(
        "# container command of task 0 (the runner picks the binary and --no-eval on the host at run time):"
    )
    command = lines[position + 1]
    assert command.startswith(
        "#   apptainer exec --nv --no-eval --bind '<workdir>:<workdir>' --pwd '<workdir>' "
    )
    assert command.endswith(".sif python3 -m probe.main " + shlex.join(["it's", "$HOME"]))
    assert not actions(sandbox.apptainer_log)
