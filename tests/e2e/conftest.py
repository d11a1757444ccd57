"""Fixtures for end-to-end tests against the real testbed (tests/testbed/README.md).

The testbed being down is a FAILURE of these tests, never a skip: a CI run
that silently skipped every cluster test would prove nothing.

    slurm_testbed      the testbed's ssh config + alias, checked once per session
    remote_root        a random staging root on the cluster for the session, removed at the end
    slurm_cluster      a per-test lxm.toml selecting that cluster (own staging subdir), and
                       helpers to read what the tasks left there
    probe_package      a UniversalPackage of `probe.py`, which prints its argv, PROBE_* env,
                       task id and start/end times as one JSON line, sleeps $PROBE_SLEEP, exits
                       $PROBE_EXIT; it ships a 256 KiB random blob so artifact uploads are visible
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import subprocess
from pathlib import Path
from typing import Any

import attrs
import pytest

from tests.hostile import hostile_env

SSH_CONFIG = os.environ.get("LXM3_TESTBED_SSH_CONFIG", "/tmp/lxm3-testbed/ssh/ssh_config")
ALIAS = os.environ.get("LXM3_TESTBED_ALIAS", "testcluster")
REMOTE_USER = os.environ.get("LXM3_TESTBED_USER", "hpcuser")

PROBE = """\
import json, os, sys, time
start = time.time()
time.sleep(float(os.environ.get("PROBE_SLEEP", "0")))
record = {
    "task": int(os.environ["LXM_TASK_ID"]),
    "argv": sys.argv[1:],
    "env": {k: v for k, v in os.environ.items() if k.startswith("PROBE_")},
    "start": start,
    "end": time.time(),
}
sys.stdout.write(json.dumps(record) + "\\n")
sys.exit(int(os.environ.get("PROBE_EXIT", "0")))
"""

BUILD = """\
#!/bin/sh
cp probe.py blob.bin "$BUILDDIR/"
"""

#: Prints {file name: text} for the task logs (`<task>.out`) of a log dir, as JSON.
_READ_LOGS = (
    "import glob, json, os, sys\n"
    "logs = {}\n"
    "for path in glob.glob(os.path.join(sys.argv[1], '[0-9]*.' + sys.argv[2])):\n"
    "    with open(path, encoding='utf-8', errors='surrogateescape') as handle:\n"
    "        logs[os.path.basename(path)] = handle.read()\n"
    "print(json.dumps(logs))\n"
)


#: Exported by every job script through the cluster config's `env` (so it is in the script itself).
CLUSTER_ENV = hostile_env(prefix="PROBE_CLUSTER_")


def ssh(script: str, *, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Runs a shell command on the testbed as the test user (not through lxm3's transport)."""
    return subprocess.run(
        ["ssh", "-F", SSH_CONFIG, "-o", "BatchMode=yes", ALIAS, "--", script],
        capture_output=True,
        text=True,
        check=check,
        timeout=timeout,
    )


@attrs.frozen
class SlurmTestbed:
    ssh_config: str
    alias: str
    user: str


@pytest.fixture(scope="session")
def slurm_testbed() -> SlurmTestbed:
    """The testbed, or a failure saying how to bring it up."""
    if not Path(SSH_CONFIG).is_file():
        pytest.fail(f"Slurm testbed is down: no {SSH_CONFIG}; run: bash tests/testbed/up.sh")
    try:
        probe = ssh("sinfo -h -o %a && sacct -n -X -j 1 >/dev/null", check=False, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("Slurm testbed is down: ssh timed out; run: bash tests/testbed/up.sh")
    if probe.returncode != 0 or "up" not in probe.stdout:
        detail = (probe.stderr or probe.stdout).strip()
        pytest.fail(f"Slurm testbed is down ({detail}); run: bash tests/testbed/up.sh")
    return SlurmTestbed(SSH_CONFIG, ALIAS, REMOTE_USER)


@pytest.fixture(scope="session")
def remote_root(slurm_testbed: SlurmTestbed) -> Any:
    """`/home/<user>/lxm3-staging-<random>` for this session; removed afterwards."""
    root = f"/home/{slurm_testbed.user}/lxm3-staging-{secrets.token_hex(4)}"
    yield root
    ssh(f"rm -rf {shlex.quote(root)}", check=False)


@attrs.define
class SlurmCluster:
    """One test's view of the cluster: its config file, staging dir and log readers."""

    config_path: Path
    staging: str

    def read_logs(self, log_dir: str, stream: str = "out") -> dict[int, str]:
        """Every task's `<task>.<stream>` under a job's log dir, in one ssh call."""
        command = shlex.join(["python3", "-c", _READ_LOGS, log_dir, stream])
        logs = json.loads(ssh(command).stdout)
        return {int(name.split(".")[0]): text for name, text in logs.items()}

    def read_records(self, log_dir: str) -> dict[int, dict[str, Any]]:
        """The probe's JSON record of each task."""
        return {
            task: json.loads(text.strip().splitlines()[-1])
            for task, text in self.read_logs(log_dir).items()
            if text.strip()
        }

    def read_file(self, path: str) -> str:
        return ssh(shlex.join(["cat", path])).stdout

    def squeue(self, job_ids: list[str]) -> str:
        return ssh(f"squeue -h -t all -j {','.join(job_ids)} -o '%i|%T'", check=False).stdout


def staging_name(request: pytest.FixtureRequest) -> str:
    """This test's name as a staging folder name."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", request.node.name)[:80]


def write_cluster_config(
    tmp_path: Path, testbed: SlurmTestbed, staging: str, env: dict[str, str] | None = None
) -> Path:
    """`<tmp_path>/lxm.toml`: the testbed as the only cluster, staging at `staging`, exporting `env`."""
    env_lines = [f"{key} = {json.dumps(value, ensure_ascii=False)}" for key, value in (env or {}).items()]
    config = tmp_path / "lxm.toml"
    config.write_text(
        "\n".join(
            [
                'project = "e2e"',
                "[local.storage]",
                f"staging = {json.dumps(str(tmp_path / 'local-staging'))}",
                "[[clusters]]",
                'name = "testcluster"',
                f"server = {json.dumps(testbed.alias)}",
                f"ssh_config = {json.dumps(testbed.ssh_config)}",
                "[clusters.storage]",
                f"staging = {json.dumps(staging)}",
                *(["[clusters.env]", *env_lines] if env_lines else []),
                "",
            ]
        )
    )
    return config


@pytest.fixture
def slurm_cluster(
    slurm_testbed: SlurmTestbed,
    remote_root: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> SlurmCluster:
    """A `lxm.toml` whose only cluster is the testbed, with this test's own staging dir."""
    staging = f"{remote_root}/{staging_name(request)}"
    config = write_cluster_config(tmp_path, slurm_testbed, staging)
    monkeypatch.setenv("LXM_CONFIG", str(config))
    monkeypatch.setenv("LXM3_POLL_MAX_INTERVAL", "0.5")
    return SlurmCluster(config, staging)


@pytest.fixture(scope="session")
def probe_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("probe")
    (root / "probe.py").write_text(PROBE)
    (root / "blob.bin").write_bytes(secrets.token_bytes(256 * 1024))
    build = root / "build.sh"
    build.write_text(BUILD)
    build.chmod(0o755)
    return root


@pytest.fixture
def probe_package(probe_dir: Path) -> Any:
    from lxm3 import xm_cluster

    entrypoint: Any = ["python3", "probe.py"]
    return xm_cluster.UniversalPackage(path=str(probe_dir), entrypoint=entrypoint, build_script="build.sh")
