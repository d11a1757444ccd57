"""Containers on the real Slurm and Grid Engine testbed, through the TEST-ONLY fake runtime.

The testbed has no Apptainer: the cluster config points `[clusters.singularity]
binary` at a copy of tests/fakes/apptainer in the test's staging dir on the
cluster (hpcuser may not be able to read this checkout). So the scheduler,
SSH, deploy and the task runner are real; the container is not. Proven here:
the sweep's hostile args and env reach the program byte for byte through
APPTAINERENV_ variables (the fake runs in isolate mode, so nothing else can
carry them), and a second launch with the same .sif sends no image bytes.
The testbed being down FAILS these tests (tests/e2e/conftest.py).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest

from lxm3 import xm, xm_cluster
from lxm3.transport.ssh import SSHTransport
from tests.e2e.conftest import SlurmTestbed, ssh

from .conftest import FAKES, HOSTILE, hostile_env
from .launch_helpers import launch

pytestmark = [pytest.mark.ssh, pytest.mark.timeout(300)]

IMAGE_SIZE = 3 * 1024 * 1024

_READ_JSON_FILES = (
    "import glob, json, os, sys\n"
    "out = {}\n"
    "for path in sorted(glob.glob(os.path.join(sys.argv[1], '*'))):\n"
    "    with open(path, encoding='utf-8', errors='surrogateescape') as handle:\n"
    "        out[os.path.basename(path)] = handle.read()\n"
    "print(json.dumps(out))\n"
)


class RemoteBox:
    """One test's staging dir on the cluster, with the fake runtime copied into it."""

    def __init__(self, root: str, local: Path, project: Path) -> None:
        self.root = root
        self.local = local
        self.project = project
        self.fake = f"{root}/fakes/apptainer"
        self.log = f"{root}/fake-apptainer.log"
        self.out = f"{root}/probe-out"
        self.config_path = local / "lxm.toml"

    def read_dir(self, path: str) -> dict[str, str]:
        return json.loads(ssh(shlex.join(["python3", "-c", _READ_JSON_FILES, path])).stdout)

    def outputs(self) -> dict[int, dict[str, Any]]:
        return {int(name[5:-5]): json.loads(text) for name, text in self.read_dir(self.out).items()}

    def fake_log(self) -> list[dict[str, Any]]:
        text = ssh(f"cat {shlex.quote(self.log)} 2>/dev/null || true").stdout
        return [json.loads(line) for line in text.splitlines() if line]


@pytest.fixture
def remote_box(
    slurm_testbed: SlurmTestbed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, probe_project: Path
) -> Any:
    home = ssh('printf "%s" "$HOME"').stdout.strip()
    box = RemoteBox(f"{home}/lxm3-containers-{secrets.token_hex(4)}", tmp_path, probe_project)
    setup = f"umask 077 && mkdir -p {shlex.quote(box.out)} {shlex.quote(box.root)}/fakes && cat > {shlex.quote(box.fake)} && chmod 700 {shlex.quote(box.fake)}"
    subprocess.run(
        ["ssh", "-F", slurm_testbed.ssh_config, "-o", "BatchMode=yes", slurm_testbed.alias, "--", setup],
        input=(FAKES / "apptainer").read_text(),
        text=True,
        check=True,
        capture_output=True,
        timeout=60,
    )
    box.config_path.write_text(
        "\n".join(
            [
                "[local.storage]",
                f"staging = {json.dumps(str(tmp_path / 'local-staging'))}",
                "[store]",
                f"path = {json.dumps(str(tmp_path / 'store.db'))}",
                "[[clusters]]",
                'name = "testcluster"',
                f"server = {json.dumps(slurm_testbed.alias)}",
                f"ssh_config = {json.dumps(slurm_testbed.ssh_config)}",
                "[clusters.storage]",
                f"staging = {json.dumps(box.root + '/staging')}",
                "[clusters.env]",
                f"LXM3_FAKE_APPTAINER_LOG = {json.dumps(box.log)}",
                'LXM3_FAKE_APPTAINER_ISOLATE = "1"',
                "[clusters.singularity]",
                f"binary = {json.dumps(box.fake)}",
                "",
            ]
        )
    )
    monkeypatch.setenv("LXM_CONFIG", str(box.config_path))
    monkeypatch.setenv("LXM3_LAUNCHER_DIR", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("LXM3_POLL_MAX_INTERVAL", "0.5")
    monkeypatch.setenv("LXM3_LOCAL_ECHO", "0")
    yield box
    from lxm3.xm_cluster import targets

    targets.close_all()
    ssh(f"rm -rf {shlex.quote(box.root)}", check=False)


@pytest.fixture
def uploads(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Every file list lxm3 hands to the SSH transport's upload."""
    calls: list[list[str]] = []
    original = SSHTransport.upload

    def recording(self: SSHTransport, local_dir: Path, remote_dir: str, *, files: Any = None) -> int:
        calls.append(list(files or []))
        return original(self, local_dir, remote_dir, files=files)

    monkeypatch.setattr(SSHTransport, "upload", recording)
    return calls


def _executor(kind: str) -> xm.Executor:
    if kind == "slurm":
        return xm_cluster.Slurm(walltime="00:05:00")
    return xm_cluster.GridEngine(walltime="00:05:00")  # type: ignore[attr-defined,no-any-return]


@pytest.mark.parametrize(
    "kind", [pytest.param("slurm", marks=pytest.mark.slurm), pytest.param("sge", marks=pytest.mark.sge)]
)
def test_sweep_in_a_sif_delivers_hostile_values_and_the_image_is_sent_once(
    kind: str, remote_box: RemoteBox, uploads: list[list[str]]
) -> None:
    image = remote_box.local / "env.sif"
    image.write_bytes(secrets.token_bytes(IMAGE_SIZE))
    spec = xm_cluster.SingularityContainer(
        xm_cluster.PythonPackage(
            entrypoint=xm_cluster.ModuleName("probe.main"), path=str(remote_box.project)
        ),
        image_path="env.sif",
    )
    tasks = [
        (list(HOSTILE), {**hostile_env(0), "PROBE_DIR": remote_box.out}),
        (list(reversed(HOSTILE)), {**hostile_env(5), "PROBE_DIR": remote_box.out}),
        (["plain"], {"HOSTILE_X": "\n", "PROBE_DIR": remote_box.out}),
    ]
    first = launch(spec, _executor(kind), [t[0] for t in tasks], [t[1] for t in tasks])

    outputs = remote_box.outputs()
    assert sorted(outputs) == [0, 1, 2]
    for task_id, (args, env) in enumerate(tasks):
        assert outputs[task_id]["argv"] == args
        assert {k: outputs[task_id]["env"].get(k) for k in env} == env
        assert outputs[task_id]["cwd"] == outputs[task_id]["env"]["LXM_WORKDIR"]

    calls = [entry for entry in remote_box.fake_log() if entry["argv"][1:2] == ["exec"]]
    assert len(calls) == 3
    digest = hashlib.sha256(image.read_bytes()).hexdigest()
    for call in calls:
        argv = call["argv"]
        workdir = call["prefixed_env"]["APPTAINERENV_LXM_WORKDIR"]
        task_id = int(call["prefixed_env"]["APPTAINERENV_LXM_TASK_ID"])
        assert argv[0] == remote_box.fake
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
            f"{remote_box.root}/staging/artifacts/{digest}.sif",
            "python3",
            "-m",
            "probe.main",
            *tasks[task_id][0],
        ]
        assert "--nv" not in argv  # a CPU job
    sent_first = [name for files in uploads for name in files]
    assert f"artifacts/{digest}.sif" in sent_first
    assert first.bytes_sent >= IMAGE_SIZE

    # Same image again: the cluster has artifacts/<digest>.sif, so no image bytes move.
    uploads.clear()
    second = launch(spec, _executor(kind), [["again"]], [{"PROBE_DIR": remote_box.out}])
    sent_second = [name for files in uploads for name in files]
    assert not [name for name in sent_second if name.endswith(".sif")]
    assert second.bytes_sent < IMAGE_SIZE // 10
    assert len([e for e in remote_box.fake_log() if e["argv"][1:2] == ["exec"]]) == 4
