"""lxm3 0.4.2's examples and integration test (and 0.4.3's pex_binary), as launchers of our own,
run unchanged through `lxm3 launch`: for real on Local, as dry runs for Slurm and Grid Engine."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from lxm3 import xm
from tests.compat import projects
from tests.compat.conftest import Result, Workspace, task_logs


def ok(result: Result) -> Result:
    assert result.returncode == 0, result.describe()
    return result


def error_line(result: Result) -> str:
    """The launch failed with exactly one `lxm3: error:` line."""
    assert result.returncode != 0, result.describe()
    lines = [line for line in result.stderr.splitlines() if line.startswith("lxm3: error:")]
    assert len(lines) == 1, result.describe()
    return lines[0]


def outputs(root: Path) -> list[str]:
    return sorted(task_logs(root).values())


# ----- examples/basic -----
def test_basic_runs_on_local_with_relative_staging(workspace: Workspace) -> None:
    launcher = projects.basic(workspace.root)
    projects.local_config(workspace.root)  # staging = ".cache/lxm", as lxm3 0.4's template
    ok(workspace.launch(launcher))
    logs = task_logs(workspace.root / ".cache" / "lxm")
    assert len(logs) == 2, logs  # two work units, one task each (experiment.batch() grouped them)
    for task in range(2):
        [text] = [text for text in logs.values() if f"--task={task}" in text]
        assert f"argv=--config=config.py --task={task}" in text
        assert "env FOO=BAR" in text
        assert "file config.py: learning_rate = 0.1" in text


def test_basic_on_grid_engine_dry_run(workspace: Workspace) -> None:
    launcher = projects.basic(workspace.root)
    projects.cluster_config(workspace.root)
    result = ok(workspace.launch(launcher, "--launch_on_cluster", dry_run=True))
    assert result.stdout.count("# would run: qsub") == 2
    assert "#$ -l h_rt=00:10:00" in result.stdout
    assert "#$ -l h_vmem=954M" in result.stdout  # ram=1 GB (decimal), in MiB


def test_batch_launcher_work_list_on_local(workspace: Workspace) -> None:
    launcher = projects.batch(workspace.root)
    projects.local_config(workspace.root)
    ok(workspace.launch(launcher))
    texts = outputs(workspace.root / ".cache" / "lxm")
    assert len(texts) == 2
    assert "argv=--seed=1" in texts[0] and "env TASK=1" in texts[0]
    assert "argv=--seed=2" in texts[1] and "env TASK=2" in texts[1]


# ----- examples/jax_gpu -----
@pytest.mark.parametrize("gpu", [True, False])
def test_jax_gpu_on_grid_engine_dry_run_asks_for_the_gpu_and_nv(workspace: Workspace, gpu: bool) -> None:
    launchers = projects.jax_gpu(workspace.root)
    projects.cluster_config(workspace.root)
    flags = ["--launch_on_cluster", "--gpu" if gpu else "--nogpu"]
    result = ok(workspace.launch(launchers["launcher"], *flags, dry_run=True))
    out = result.stdout
    assert "#$ -l gpu=1" in out and "#$ -l tmem=8000000000" in out and "#$ -R y" in out
    assert ("#$ -l h_vmem=8000000000" in out) is (not gpu)
    # GPUs asked through GridEngine.resources reach the container (0.4 did this too).
    assert " --nv " in out.split("# container command of task 0")[1]


def test_jax_gpu_on_local_in_apptainer(workspace: Workspace) -> None:
    launchers = projects.jax_gpu(workspace.root)
    projects.local_config(workspace.root)
    workspace.with_fakes("apptainer")
    ok(workspace.launch(launchers["launcher"]))
    [text] = outputs(workspace.root / ".cache" / "lxm")
    assert "argv=--seed=1" in text and "env XLA_PYTHON_CLIENT_PREALLOCATE=false" in text
    calls = [json.loads(line) for line in (workspace.root / "apptainer.log").read_text().splitlines()]
    [run] = [call["argv"] for call in calls if "exec" in call["argv"]]
    assert "--nv" not in run  # no GPU asked for
    assert any(arg.endswith(".sif") for arg in run)  # the image, deployed by digest


@pytest.mark.parametrize("batch", [False, True])
def test_jax_gpu_launcher_slurm_dry_run(workspace: Workspace, batch: bool) -> None:
    launchers = projects.jax_gpu(workspace.root)
    projects.cluster_config(workspace.root)
    args = ["--batch"] if batch else []
    out = ok(workspace.launch(launchers["launcher_slurm"], *args, dry_run=True)).stdout
    assert "#SBATCH --gres=gpu:1" in out and "#SBATCH --time=00:10:00" in out
    assert "# would run: sbatch" in out
    assert ("#SBATCH --array=0-1" in out) is batch
    assert " --nv " in out.split("# container command of task 0")[1]  # GPU from extra_directives


@pytest.mark.parametrize(
    ("cluster", "expected", "absent"),
    [
        ("cs", ["#$ -l gpu=true", "#$ -l tmem=8000000000", "#$ -R y"], ["h_vmem", "module load"]),
        ("myriad", ["#$ -l gpu=1", "#$ -l mem=8000000000", "module load singularity-env"], ["tmem"]),
    ],
)
def test_jax_gpu_batch_launcher_with_ucl_grid_engine_dry_run(
    workspace: Workspace, cluster: str, expected: list[str], absent: list[str]
) -> None:
    launchers = projects.jax_gpu(workspace.root)
    projects.cluster_config(workspace.root, ("cs", "myriad"))
    workspace.env["LXM_CLUSTER"] = cluster
    out = ok(
        workspace.launch(launchers["batch_launcher"], "--launch_on_cluster", "--gpu", dry_run=True)
    ).stdout
    assert out.count(f"on {cluster} (sge)") == 4  # 2 jobs in experiment.batch(), 2 from a job generator
    for text in expected:
        assert text in out, text
    for text in absent:
        assert text not in out, text


def test_ucl_grid_engine_names_the_supported_clusters(workspace: Workspace) -> None:
    launchers = projects.jax_gpu(workspace.root)
    projects.cluster_config(workspace.root, ("elsewhere",))
    line = error_line(workspace.launch(launchers["batch_launcher"], "--launch_on_cluster", dry_run=True))
    assert "cs, myriad" in line and "'elsewhere'" in line


# ----- examples/python_container and examples/pdm_project -----
@pytest.mark.parametrize(
    ("make", "needle"),
    [(projects.python_container, "requirements.txt"), (projects.pdm_project, "pdm export")],
)
def test_image_projects_build_with_docker_and_run_on_local(workspace: Workspace, make, needle: str) -> None:
    launcher = make(workspace.root)
    projects.local_config(workspace.root)
    workspace.with_fakes("docker")
    ok(workspace.launch(launcher))
    [text] = outputs(workspace.root / ".cache" / "lxm")
    assert "argv=" in text
    records = [json.loads(line) for line in (workspace.root / "docker.log").read_text().splitlines()]
    [build] = [record for record in records if "dockerfile" in record]
    assert build["dockerfile"].startswith("FROM python:3.10-slim") and needle in build["dockerfile"]
    [run] = [record["argv"] for record in records if record.get("argv", [None, None])[1:2] == ["run"]]
    assert build["tag"] in run


@pytest.mark.parametrize("make", [projects.python_container, projects.pdm_project])
def test_image_projects_without_docker_fail_in_one_line(workspace: Workspace, make) -> None:
    launcher = make(workspace.root)
    projects.local_config(workspace.root)
    workspace.without("docker", "podman")
    line = error_line(workspace.launch(launcher))
    assert "needs docker or podman" in line


@pytest.mark.parametrize("make", [projects.python_container, projects.pdm_project])
def test_image_projects_dry_run_builds_nothing(workspace: Workspace, make) -> None:
    launcher = make(workspace.root)
    projects.cluster_config(workspace.root, ("myriad",))
    workspace.without("docker", "podman")
    local = ok(workspace.launch(launcher, dry_run=True)).stdout
    assert (":latest" in local and "docker run" in local) or "docker" in local
    cluster = ok(workspace.launch(launcher, "--launch_on_cluster", dry_run=True)).stdout
    assert "docker-daemon://" in cluster and "module load singularity-env" in cluster


# ----- examples/universal_package -----
def test_universal_package_runs_on_local(workspace: Workspace) -> None:
    launcher = projects.universal_package(workspace.root)
    projects.local_config(workspace.root)
    ok(workspace.launch(launcher))
    assert outputs(workspace.root / ".cache" / "lxm") == ["hello from a universal package\n"]


# ----- tests/integration/basic (its run_tests.sh: launched from a scratch dir, its own lxm.toml) -----
@pytest.mark.parametrize(
    ("flag", "fake"),
    [
        ("--docker_image=python:3.10-slim", "docker"),
        ("--singularity_image=docker://python:3.10-slim", "apptainer"),
    ],
)
def test_integration_basic(workspace: Workspace, flag: str, fake: str) -> None:
    launcher, config = projects.integration_basic(workspace.root)
    scratch = workspace.root / "tmp"
    scratch.mkdir()
    workspace.with_fakes(fake)
    ok(workspace.launch(launcher, flag, "--lxm_config", str(config), cwd=scratch))
    # The relative staging dir is resolved against the directory the launch ran in, once.
    [text] = outputs(scratch / ".cache" / "lxm")
    assert "argv=--seed=1" in text and "env BAR=FOO" in text
    if fake == "docker":
        records = [json.loads(line) for line in (workspace.root / "docker.log").read_text().splitlines()]
        [run] = [record["argv"] for record in records if record["argv"][1:2] == ["run"]]
        assert any(arg.startswith("--user=") for arg in run)


# ----- 0.4.3's examples/pex_binary -----
needs_xm_utils = pytest.mark.skipif(
    not hasattr(xm, "utils") or not hasattr(xm.utils, "resolve_path_relative_to_launcher"),
    reason="xm.utils.resolve_path_relative_to_launcher comes with branch xmcore10 (issue #10, xm core)",
)


@needs_xm_utils
@pytest.mark.skipif(shutil.which("pex") is None, reason="pex is not installed")
def test_pex_binary_runs_on_local(workspace: Workspace) -> None:
    launcher = projects.pex_binary(workspace.root)
    projects.local_config(workspace.root)
    ok(workspace.launch(launcher))
    [text] = outputs(workspace.root / ".cache" / "lxm")
    assert "argv=--seed=1 --data=data.txt" in text and "file data.txt: some data" in text


@needs_xm_utils
def test_pex_binary_without_pex_fails_in_one_line(workspace: Workspace) -> None:
    launcher = projects.pex_binary(workspace.root)
    projects.local_config(workspace.root)
    workspace.without("pex")
    assert "needs the `pex` command" in error_line(workspace.launch(launcher))


# ----- exit status -----
def test_failed_local_tasks_make_the_launch_fail_naming_them(workspace: Workspace) -> None:
    launcher = projects.batch(workspace.root)
    launcher.write_text(launcher.read_text().replace('"TASK": "2"', '"TASK": "2", "FAIL_TASK": "1"'))
    projects.local_config(workspace.root)
    line = error_line(workspace.launch(launcher))
    assert "1 local task(s) failed: work unit 1 task 1 (exit code 3)" in line
