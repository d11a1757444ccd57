"""Fixtures for the fault suite: real testbed, real signals, real second stores.

Each test injects one fault the way it happens to users (a signal to the
`lxm3 launch` process, a second store on the same staging root, a stale
cached fact, a task stuck in Eqw, a requeued job) and checks that nothing is
lost (every scheduler job that exists is recorded) and nothing leaks (no file
of another store touched, no secret readable by others).
"""

from __future__ import annotations

import json
import os
import shlex
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import (  # noqa: F401 - fixtures used by the fault tests
    ALIAS,
    SSH_CONFIG,
    probe_dir,
    probe_package,
    remote_root,
    slurm_cluster,
    slurm_testbed,
    ssh,
)

#: A launcher adding FAULT_UNITS work units (one Slurm task each) of a package with a large blob.
LAUNCHER = """\
import os
from lxm3 import xm, xm_cluster

units = int(os.environ.get("FAULT_UNITS", "300"))
with xm_cluster.create_experiment("fault") as experiment:
    [executable] = experiment.package([xm.Packageable(
        xm_cluster.UniversalPackage(
            path=os.environ["FAULT_PKG"], entrypoint=["python3", "probe.py"], build_script="build.sh"
        ),
        executor_spec=xm_cluster.Slurm.Spec(),
    )])
    for i in range(units):
        experiment.add(xm.Job(executable, xm_cluster.Slurm(), args={"i": i}, env_vars={"PROBE_SLEEP": "300"}))
"""


@pytest.fixture(scope="session")
def large_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The probe with a 24 MB incompressible blob, so the upload takes a visible while."""
    root = tmp_path_factory.mktemp("large")
    (root / "probe.py").write_text(
        "import os, sys, time\ntime.sleep(float(os.environ.get('PROBE_SLEEP', '0')))\n"
    )
    (root / "blob.bin").write_bytes(os.urandom(24 * 1024 * 1024))
    build = root / "build.sh"
    build.write_text('#!/bin/sh\ncp probe.py blob.bin "$BUILDDIR/"\n')
    build.chmod(0o755)
    return root


def lxm3_command() -> list[str]:
    return [sys.executable, "-m", "lxm3.cli.main"]


def queued_jobs(staging: str) -> set[str]:
    """Slurm jobs (any state squeue still knows) whose script lives under `staging`."""
    listing = ssh("squeue -h -t all -o '%i %o'", check=False).stdout
    return {line.split()[0] for line in listing.splitlines() if f"{staging}/" in line}


def cancel_under(staging: str) -> None:
    ids = queued_jobs(staging)
    if ids:
        ssh(f"scancel {' '.join(sorted(ids))}", check=False)


def recorded(store: Path) -> tuple[set[str], list[dict[str, Any]]]:
    """(scheduler job ids recorded, job rows) of a store file."""
    if not store.exists():
        return set(), []
    db = sqlite3.connect(store)
    db.row_factory = sqlite3.Row
    rows = [dict(row) for row in db.execute("SELECT * FROM jobs")]
    db.close()
    ids = {entry["job_id"] for row in rows for entry in json.loads(row["submitted"])}
    return ids, rows


def shell_quote(path: str) -> str:
    return shlex.quote(path)


def run_env(config: Path, store: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ, LXM_CONFIG=str(config), LXM3_STORE=str(store), PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


def run(argv: list[str], env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)
