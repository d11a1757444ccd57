"""Fixtures for the Grid Engine end-to-end tests (the testbed's SGE behind its sshd).

    sge_testbed        the testbed's ssh config + alias, with Grid Engine answering; checked once
    sge_remote_root    a random staging root on the cluster for the session, removed at the end
    sge_cluster        a per-test lxm.toml selecting that cluster (own staging subdir, the hostile
                       cluster `env` values of CLUSTER_ENV), and helpers to read what the tasks left there

The probe package (`probe_package`) comes from conftest.py. The testbed being
down is a FAILURE of these tests, never a skip.
"""

from __future__ import annotations

import secrets
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import (
    ALIAS,
    CLUSTER_ENV,
    REMOTE_USER,
    SSH_CONFIG,
    SlurmCluster,
    SlurmTestbed,
    ssh,
    staging_name,
    write_cluster_config,
)


@pytest.fixture(scope="session")
def sge_testbed() -> SlurmTestbed:
    """The testbed with Grid Engine up, or a failure saying how to bring it up."""
    if not Path(SSH_CONFIG).is_file():
        pytest.fail(f"SGE testbed is down: no {SSH_CONFIG}; run: bash tests/testbed/up.sh")
    try:
        probe = ssh("qstat -f -q all.q && qconf -sconf | grep max_aj_tasks", check=False, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("SGE testbed is down: ssh timed out; run: bash tests/testbed/up.sh")
    if probe.returncode != 0 or "all.q@" not in probe.stdout:
        detail = (probe.stderr or probe.stdout).strip()
        pytest.fail(f"SGE testbed is down ({detail}); run: bash tests/testbed/sge-up.sh")
    return SlurmTestbed(SSH_CONFIG, ALIAS, REMOTE_USER)


@pytest.fixture(scope="session")
def sge_remote_root(sge_testbed: SlurmTestbed) -> Iterator[str]:
    """`/home/<user>/lxm3-staging-sge-<random>` for this session; removed afterwards."""
    root = f"/home/{sge_testbed.user}/lxm3-staging-sge-{secrets.token_hex(4)}"
    yield root
    ssh(f"rm -rf {shlex.quote(root)}", check=False)


class GridEngineCluster(SlurmCluster):
    """One test's view of the SGE cluster: config, staging dir, log readers, qstat."""

    def qstat_jobs(self) -> str:
        """The test user's queued jobs, as `qstat` lists them."""
        return ssh("qstat", check=False).stdout


@pytest.fixture
def sge_cluster(
    sge_testbed: SlurmTestbed,
    sge_remote_root: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> GridEngineCluster:
    """A `lxm.toml` whose only cluster is the testbed, with this test's own staging dir."""
    staging = f"{sge_remote_root}/{staging_name(request)}"
    config = write_cluster_config(tmp_path, sge_testbed, staging, CLUSTER_ENV)
    monkeypatch.setenv("LXM_CONFIG", str(config))
    monkeypatch.setenv("LXM3_POLL_MAX_INTERVAL", "0.5")
    return GridEngineCluster(config, staging)
