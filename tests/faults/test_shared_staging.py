"""Two experiment stores on one staging root (two machines, or a second LXM3_STORE).

The root belongs to the first store that launched into it: the second store
is refused before it writes anything (one line naming the owner), the first
store's files never change, and the second store's `lxm3 clean` leaves them alone.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from lxm3 import xm, xm_cluster
from lxm3.xm_cluster.staging_owner import StagingRootOwnedError

from .conftest import ssh

pytestmark = [pytest.mark.slurm, pytest.mark.ssh]


def launch(store: Path, monkeypatch: pytest.MonkeyPatch, package: Any, executor: Any, spec: Any) -> int:
    monkeypatch.setenv("LXM3_STORE", str(store))
    with xm_cluster.create_experiment("shared") as experiment:
        [executable] = experiment.package([xm.Packageable(package, executor_spec=spec)])
        unit = experiment.add(xm.Job(executable, executor, args={"store": store.name})).result()
        unit.wait_until_complete()
    return experiment.experiment_id


def second_config(config: Path, tmp_path: Path, *, local: str) -> Path:
    """The same cluster staging as `config`, with its own or the same local staging."""
    text = config.read_text()
    if local == "own":
        text = text.replace(str(tmp_path / "local-staging"), str(tmp_path / "other-local-staging"))
    second = tmp_path / "second.toml"
    second.write_text(text)
    return second


def tree(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def test_a_cluster_staging_root_refuses_a_second_store(
    slurm_cluster: Any, probe_package: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    launch(tmp_path / "a.sqlite3", monkeypatch, probe_package, xm_cluster.Slurm(), xm_cluster.Slurm.Spec())
    before = ssh(f"cd {slurm_cluster.staging} && find . -type f | sort | xargs md5sum").stdout
    monkeypatch.setenv("LXM_CONFIG", str(second_config(slurm_cluster.config_path, tmp_path, local="own")))
    with pytest.raises(
        StagingRootOwnedError, match=r"belongs to another lxm3 experiment store \(.*a\.sqlite3\)"
    ):
        launch(
            tmp_path / "b.sqlite3", monkeypatch, probe_package, xm_cluster.Slurm(), xm_cluster.Slurm.Spec()
        )
    assert ssh(f"cd {slurm_cluster.staging} && find . -type f | sort | xargs md5sum").stdout == before
    # The refused launch is recorded as FAILED (with the reason), not UNKNOWN.
    env = dict(os.environ, LXM3_STORE=str(tmp_path / "b.sqlite3"))
    listed = subprocess.run(
        [sys.executable, "-m", "lxm3.cli.main", "list", "--json"], env=env, capture_output=True, text=True
    )
    assert '"FAILED": 1' in listed.stdout and "UNKNOWN" not in listed.stdout, listed

    # The second store's clean does not touch the first store's root.
    cleaned = subprocess.run(
        [sys.executable, "-m", "lxm3.cli.main", "clean", "--older-than", "0", "--yes"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert ssh(f"cd {slurm_cluster.staging} && find . -type f | sort | xargs md5sum").stdout == before, (
        cleaned
    )


def test_a_local_staging_root_refuses_a_second_store(
    slurm_cluster: Any, probe_package: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local_root = tmp_path / "local-staging"
    launch(tmp_path / "a.sqlite3", monkeypatch, probe_package, xm_cluster.Local(), xm_cluster.Local.Spec())
    before = tree(local_root)
    assert (local_root / ".lxm3-owner").stat().st_mode & 0o777 == 0o600
    with pytest.raises(StagingRootOwnedError, match=r"a\.sqlite3"):
        launch(
            tmp_path / "b.sqlite3", monkeypatch, probe_package, xm_cluster.Local(), xm_cluster.Local.Spec()
        )
    assert tree(local_root) == before

    env = dict(os.environ, LXM3_STORE=str(tmp_path / "b.sqlite3"))
    result = subprocess.run(
        [sys.executable, "-m", "lxm3.cli.main", "clean", "--older-than", "0", "--yes"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert tree(local_root) == before, result
    assert "belongs to another lxm3 store" in result.stdout, result
