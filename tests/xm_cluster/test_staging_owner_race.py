"""Concurrent first claims of one staging root never see a half-written owner file.

CI once refused a launch into its own root: two work units of one launch claimed
the local root at the same moment, and the second read the owner file between
its exclusive creation and its write (an empty owner looked foreign).
"""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from lxm3.xm_cluster import staging_owner
from lxm3.xm_cluster.staging_owner import ROOT_OWNER_FILE, StagingRootOwnedError

OWNER = "store-a host:/home/u/a.sqlite3"


@pytest.mark.parametrize("attempt", range(20))
def test_threads_of_one_store_all_claim_a_fresh_local_root(tmp_path: Path, attempt: int) -> None:
    root = tmp_path / "staging"
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: staging_owner.claim_local(root, OWNER), range(8)))
    assert (root / ROOT_OWNER_FILE).read_text() == OWNER + "\n"
    assert sorted(p.name for p in root.iterdir()) == [ROOT_OWNER_FILE]  # no drafts left behind


def test_a_second_store_is_refused_locally(tmp_path: Path) -> None:
    staging_owner.claim_local(tmp_path, OWNER)
    with pytest.raises(StagingRootOwnedError, match=r"\(host:/home/u/a\.sqlite3\)"):
        staging_owner.claim_local(tmp_path, "store-b host:/home/u/b.sqlite3")


def run_claim(root: Path, owner: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", "-c", staging_owner.claim_script(str(root), owner)], capture_output=True, text=True
    )


def test_shells_of_one_store_all_claim_a_fresh_remote_root(tmp_path: Path) -> None:
    root = tmp_path / "remote root"
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: run_claim(root, OWNER), range(16)))
    assert [r.returncode for r in results] == [0] * 16, [r.stdout for r in results]
    assert (root / ROOT_OWNER_FILE).read_text() == OWNER + "\n"
    assert sorted(p.name for p in root.iterdir()) == [ROOT_OWNER_FILE]


def test_a_second_store_is_refused_by_the_remote_script(tmp_path: Path) -> None:
    assert run_claim(tmp_path, OWNER).returncode == 0
    refused = run_claim(tmp_path, "store-b host:/b")
    assert refused.returncode == 3
    with pytest.raises(StagingRootOwnedError, match=r"\(host:/home/u/a\.sqlite3\)"):
        staging_owner.check_output(refused.stdout, str(tmp_path), "cluster")
