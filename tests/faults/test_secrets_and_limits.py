"""What lxm3 leaves on this machine and prints: secrets stay private, bad values fail early.

Local launches (no cluster needed): the staging files holding args/env and
the store are private (0600 files, 0700 dirs); a dry run and error messages
show secret-looking env values as ***; a NUL byte or an argument too big for
the OS is one line naming the task, without echoing the value; a read-only
store still answers `list` and `status`.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.packages import universal_package

LAUNCHER = """\
import os
from lxm3 import xm, xm_cluster

value = os.environ.get("FAULT_VALUE", "fine")
size = int(os.environ.get("FAULT_ARG_BYTES", "1"))
with xm_cluster.create_experiment("secrets") as experiment:
    [executable] = experiment.package([xm.Packageable(
        xm_cluster.UniversalPackage(path=os.environ["FAULT_PKG"], entrypoint=["python3", "task.py"], build_script="build.sh"),
        executor_spec=xm_cluster.Local.Spec(),
    )])
    experiment.add(xm.Job(
        executable, xm_cluster.Local(), args={"blob": "x" * size},
        env_vars={"WANDB_API_KEY": value, "PLAIN": "visible-value"},
    ))
"""

SECRET = "s3cr3t-value-123"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    universal_package(tmp_path / "pkg", {"task.py": "import os\nprint(len(os.environ['WANDB_API_KEY']))\n"})
    (tmp_path / "launch.py").write_text(LAUNCHER)
    config = tmp_path / "lxm.toml"
    config.write_text(
        f'project = "s"\n[local.storage]\nstaging = "{tmp_path / "staging"}"\n'
        f'[local.env]\nHF_TOKEN = "{SECRET}"\nSHOWN = "plain-config-value"\n'
    )
    return tmp_path


def launch(project: Path, *flags: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = dict(
        os.environ,
        LXM_CONFIG=str(project / "lxm.toml"),
        LXM3_STORE=str(project / "store" / "experiments.sqlite3"),
        FAULT_PKG=str(project / "pkg"),
        **env,
    )
    return subprocess.run(
        [sys.executable, "-m", "lxm3.cli.main", "launch", *flags, str(project / "launch.py")],
        env=full,
        capture_output=True,
        text=True,
        timeout=180,
    )


def modes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): stat.S_IMODE(p.stat().st_mode) for p in [root, *root.rglob("*")]}


def test_staged_files_and_the_store_are_private(project: Path) -> None:
    result = launch(project, FAULT_VALUE=SECRET)
    assert result.returncode == 0, result.stderr
    staging = modes(project / "staging")
    for name, mode in staging.items():
        if name.endswith(("tasks.jsonl", "tasks.idx", "job.json", ".lxm3-owner")) or name.endswith(".exit"):
            assert mode & 0o077 == 0, (name, oct(mode))
        if stat.S_ISDIR((project / "staging" / name).stat().st_mode) and "/artifacts" not in name:
            assert mode & 0o077 == 0, (name, oct(mode))
    store = project / "store"
    assert stat.S_IMODE(store.stat().st_mode) == 0o700
    for path in store.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path


def test_dry_run_masks_secret_looking_env(project: Path) -> None:
    result = launch(project, "--dry-run", FAULT_VALUE=SECRET)
    assert result.returncode == 0, result.stderr
    assert SECRET not in result.stdout + result.stderr
    assert "HF_TOKEN=***" in result.stdout and "plain-config-value" in result.stdout


def test_a_nul_byte_error_does_not_echo_the_value(project: Path) -> None:
    # A real NUL cannot pass through the environment: the launcher builds it.
    (project / "launch.py").write_text(
        LAUNCHER.replace('value = os.environ.get("FAULT_VALUE", "fine")', f'value = "{SECRET}\\0tail"')
    )
    result = launch(project)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "task 0: env WANDB_API_KEY contains a NUL byte" in lines[0], result.stderr
    assert SECRET not in result.stderr


def test_an_argument_too_big_for_the_os_fails_at_launch(project: Path) -> None:
    result = launch(project, FAULT_ARG_BYTES=str(10 * 1024 * 1024))
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "task 0: argument" in lines[0] and "bytes" in lines[0], result.stderr
    assert len(lines[0]) < 300


@pytest.mark.skipif(os.geteuid() != 0, reason="needs a read-only bind mount (root)")
def test_a_read_only_store_can_still_be_read(project: Path, tmp_path: Path) -> None:
    assert launch(project).returncode == 0
    mount = tmp_path / "ro"
    mount.mkdir()
    subprocess.run(["mount", "--bind", str(project / "store"), str(mount)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(mount)], check=True)
        env = dict(
            os.environ, LXM_CONFIG=str(project / "lxm.toml"), LXM3_STORE=str(mount / "experiments.sqlite3")
        )
        for command in (["list"], ["status", "1"]):
            result = subprocess.run(
                [sys.executable, "-m", "lxm3.cli.main", *command], env=env, capture_output=True, text=True
            )
            assert result.returncode == 0 and "secrets" in result.stdout, result
        result = subprocess.run(
            [sys.executable, "-m", "lxm3.cli.main", "rerun", "1"], env=env, capture_output=True, text=True
        )
        assert result.returncode != 0 and result.stderr.count("\n") == 1, result
    finally:
        subprocess.run(["umount", str(mount)], check=False)
