"""Test doubles shared by the scheduler tests: a canned transport and fake CLI binaries.

They cover what a real cluster rarely produces (odd outputs, refusals) on top
of, not instead of, the real-Slurm and real-Grid-Engine tests.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from lxm3.schedulers.base import ArrayChunk, JobScript, RenderRequest
from lxm3.transport.base import CommandResult, Transport


class RecordingTransport(Transport):
    """Answers every command with canned results and records what was asked."""

    label = "fake@cluster"

    def __init__(self, results: Sequence[CommandResult]) -> None:
        self.results = list(results)
        self.commands: list[list[str]] = []

    def run(
        self,
        argv: Sequence[str],
        *,
        input: str | None = None,
        check: bool = True,
        timeout: float | None = None,
    ) -> CommandResult:
        self.commands.append(list(argv))
        return self.results.pop(0)

    def upload(self, local_dir: Path, remote_dir: str, *, files: Sequence[str] | None = None) -> int:
        raise AssertionError("no uploads here")

    def download(self, remote_path: str, local_path: Path) -> None:
        raise AssertionError("no downloads here")


def result(stdout: str = "", stderr: str = "", returncode: int = 0) -> CommandResult:
    return CommandResult(("bash",), returncode, stdout, stderr)


def chunked_scripts(
    make_request: Callable[..., RenderRequest], executor: object, count: int, size: int = 101
) -> list[JobScript]:
    """`count` job scripts of `size` tasks each, as a split sweep has."""
    return [
        JobScript(
            f"/stage/exp/1/1/train/job-{k}.sh",
            make_request(executor, chunk=ArrayChunk(k * size, size), num_tasks=count * size),
        )
        for k in range(count)
    ]


def fake_bin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scripts_by_name: dict[str, str]) -> None:
    """Puts bash scripts named like scheduler commands first on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in scripts_by_name.items():
        path = bin_dir / name
        path.write_text("#!/usr/bin/env bash\n" + textwrap.dedent(body))
        path.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
