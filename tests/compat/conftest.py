"""The lxm3 0.4 compatibility suite: 0.4-style launchers run unchanged through `lxm3 launch`.

Each test writes a small project of its own that uses lxm3 0.4.2/0.4.3's
public API the way that version's examples and integration test do (see
`projects.py`), then runs it with the real CLI in a fresh process: for real
on the Local executor, or as a dry run (`--dry-run`) for Slurm and Grid
Engine, whose printed job scripts and container commands are checked.

Every test has its own store (`$LXM3_STORE`) and config. Docker and
Apptainer are the TEST-ONLY fakes in tests/fakes (no engine runs here): they
check the command lines lxm3 builds and run the program on the host.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

FAKES = Path(__file__).resolve().parents[1] / "fakes"


@attrs.frozen
class Result:
    """One `lxm3 launch` run."""

    returncode: int
    stdout: str
    stderr: str

    def describe(self) -> str:
        return f"exit {self.returncode}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


@attrs.define
class Workspace:
    """A test's directory, environment and the `lxm3 launch` it runs."""

    root: Path
    env: dict[str, str]

    def launch(
        self, launcher: Path, *args: str, dry_run: bool = False, cwd: Path | None = None, timeout: float = 300
    ) -> Result:
        argv = [sys.executable, "-m", "lxm3.cli.main", "launch"]
        if dry_run:
            argv.append("--dry-run")
        argv += [str(launcher), *args]
        done = subprocess.run(
            argv, cwd=cwd or launcher.parent, env=self.env, capture_output=True, text=True, timeout=timeout
        )
        return Result(done.returncode, done.stdout, done.stderr)

    def lxm3(self, *args: str, cwd: Path | None = None, stdin: str = "", timeout: float = 120) -> Result:
        done = subprocess.run(
            [sys.executable, "-m", "lxm3.cli.main", *args],
            cwd=cwd or self.root,
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return Result(done.returncode, done.stdout, done.stderr)

    def with_fakes(self, *names: str) -> None:
        """Puts the named fakes (docker, podman, apptainer, singularity) first on PATH."""
        bin_dir = self.root / "fake-bin"
        bin_dir.mkdir(exist_ok=True)
        for name in names:
            link = bin_dir / name
            if not link.exists():
                link.symlink_to(FAKES / name)
        self.env["PATH"] = f"{bin_dir}{os.pathsep}{self.env['PATH']}"
        self.env["LXM3_FAKE_DOCKER_LOG"] = str(self.root / "docker.log")
        self.env["LXM3_FAKE_APPTAINER_LOG"] = str(self.root / "apptainer.log")

    def without(self, *commands: str) -> None:
        """A PATH on which none of `commands` is found (keeps python3, bash, pip)."""
        keep = self.root / "clean-bin"
        keep.mkdir(exist_ok=True)
        entries = []
        for entry in self.env["PATH"].split(os.pathsep):
            if any((Path(entry) / command).exists() for command in commands):
                continue
            entries.append(entry)
        for tool in ("python3", "bash", "env", "sh"):
            found = subprocess.run(["which", tool], capture_output=True, text=True).stdout.strip()
            if found and not (keep / tool).exists():
                (keep / tool).symlink_to(found)
        self.env["PATH"] = os.pathsep.join([str(keep), *entries])


def task_logs(staging: Path, stream: str = "out") -> dict[str, str]:
    """`{"<exp>/<wu>/<job>/<task>": text}` of every task's log under a Local staging root."""
    logs = {}
    for path in sorted(staging.glob(f"experiments/*/*/*/logs/*.{stream}")):
        job_dir = path.parent.parent
        key = "/".join([*job_dir.relative_to(staging / "experiments").parts, path.stem])
        logs[key] = path.read_text()
    return logs


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Workspace]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("LXM", "LXM3_"))}
    env.update(
        LXM3_STORE=str(tmp_path / "store.sqlite3"),
        XDG_CONFIG_HOME=str(tmp_path / "xdg-config"),
        LXM3_PRECONNECT="0",
        PYTHONPATH=os.pathsep.join(p for p in sys.path if p),
    )
    yield Workspace(tmp_path, env)
