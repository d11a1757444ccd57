"""Deploying a .sif: content-addressed like the code zip, large files under a progress bar.

A cluster target reached with the local transport (as when launching from a
login node) stands in for SSH here; tests/containers/test_container_cluster_e2e.py
does the same over the real SSH transport.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Any

import pytest

from lxm3 import xm, xm_cluster
from lxm3.schedulers.base import ArrayChunk
from lxm3.schedulers.local import LocalScheduler
from lxm3.transport.local import LocalTransport
from lxm3.xm_cluster import deploying, launching, targets
from lxm3.xm_cluster.packaging import Packager

from .conftest import Sandbox


def _stage(box: Sandbox, remote: Path, unit: str) -> tuple[launching.StagedJob, targets.Target]:
    target = targets.Target(
        name="login-node",
        scheduler=LocalScheduler(echo=False),
        transport_factory=LocalTransport,
        staging=str(remote),
    )
    spec = xm_cluster.SingularityContainer(
        xm_cluster.PythonPackage(entrypoint=xm_cluster.ModuleName("probe.main"), path=str(box.project)),
        image_path="env.sif",
    )
    executor = xm_cluster.Local()
    executable = Packager().package(xm.Packageable(spec, executor_spec=executor.Spec()))
    job = launching.job_tasks(xm.Job(executable=executable, executor=executor))
    staged = launching.stage_job(job, target, box.root / "mirror", unit, chunks=[ArrayChunk(0, 1)])
    return staged, target


@pytest.fixture
def recorded_uploads(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    calls: list[list[str]] = []
    original = LocalTransport.upload

    def recording(self: LocalTransport, local_dir: Path, remote_dir: str, *, files: Any = None) -> int:
        calls.append(list(files or []))
        return original(self, local_dir, remote_dir, files=files)

    monkeypatch.setattr(LocalTransport, "upload", recording)
    return calls


def test_sif_is_sent_once_and_alone(
    sandbox: Sandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    recorded_uploads: list[list[str]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    image = sandbox.root / "env.sif"
    image.write_bytes(os.urandom(200_000))
    sif = f"artifacts/{hashlib.sha256(image.read_bytes()).hexdigest()}.sif"
    monkeypatch.setattr(deploying, "LARGE_UPLOAD_BYTES", 100_000)
    remote = tmp_path / "remote"

    staged, target = _stage(sandbox, remote, "experiments/1/1")
    assert sif in staged.content_addressed
    with caplog.at_level(logging.INFO, logger="lxm3"):
        launching.deploy([staged], target)
    assert (remote / sif).read_bytes() == image.read_bytes()
    assert recorded_uploads[0] == [sif]  # on its own, before the small files
    assert sif not in recorded_uploads[1]
    assert f"sending {sif} (0.2 MB) to localhost" in caplog.text  # not a terminal: a log line

    recorded_uploads.clear()
    staged, target = _stage(sandbox, remote, "experiments/2/1")
    launching.deploy([staged], target)
    assert len(recorded_uploads) == 1 and not [name for name in recorded_uploads[0] if name.endswith(".sif")]


def test_progress_bar_on_a_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rich.console import Console

    (tmp_path / "a.sif").write_bytes(b"x" * 1000)
    (tmp_path / "b.sif").write_bytes(b"y" * 3000)
    monkeypatch.setattr(Console, "is_terminal", property(lambda self: True))
    advanced: list[str] = []
    with launching.upload_progress(tmp_path, ["a.sif", "b.sif"], "cluster") as advance:
        for name in ("a.sif", "b.sif"):
            advance(name)
            advanced.append(name)
    assert advanced == ["a.sif", "b.sif"]
