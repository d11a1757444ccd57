"""A relaunch with unchanged code is ONE remote command: deploy and submit together.

The first launch learns (and records locally) which content-addressed files
the cluster has. The next launch of the same code sends its small job files
inside the submit command instead of a separate check and rsync. If a file
believed present was removed on the cluster, the launch notices, sends it
again and still runs correctly.
"""

from __future__ import annotations

from typing import Any

import pytest

from lxm3 import xm, xm_cluster
from lxm3.transport.ssh import SSHTransport

from .conftest import SlurmCluster, ssh

pytestmark = [pytest.mark.slurm, pytest.mark.ssh]


class Recorder:
    """Counts the remote commands and rsync uploads of a launch."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.commands: list[str] = []
        self.uploads: list[list[str]] = []
        run, upload = SSHTransport.run, SSHTransport.upload

        def counting_run(transport: SSHTransport, argv: Any, **kwargs: Any) -> Any:
            self.commands.append(" ".join(argv))
            return run(transport, argv, **kwargs)

        def counting_upload(transport: SSHTransport, local_dir: Any, remote_dir: str, **kwargs: Any) -> int:
            self.uploads.append(list(kwargs.get("files") or []))
            return upload(transport, local_dir, remote_dir, **kwargs)

        monkeypatch.setattr(SSHTransport, "run", counting_run)
        monkeypatch.setattr(SSHTransport, "upload", counting_upload)


def sweep(probe_package: Any, seeds: list[int]) -> tuple[Any, Any]:
    with xm_cluster.create_experiment("fast-relaunch") as experiment:
        [executable] = experiment.package(
            [xm.Packageable(probe_package, executor_spec=xm_cluster.Slurm.Spec())]
        )
        array = xm_cluster.ArrayJob(executable, xm_cluster.Slurm(), args=[{"seed": s} for s in seeds])
        work_unit = experiment.add(array).result()
        work_unit.wait_until_complete()
    return experiment, work_unit


def seeds_seen(slurm_cluster: SlurmCluster, work_unit: Any) -> list[str]:
    [job] = work_unit.jobs
    records = slurm_cluster.read_records(job.log_dir)
    return [records[task]["argv"][0] for task in sorted(records)]


def test_relaunch_is_one_command_and_recovers_from_a_cleaned_cluster(
    slurm_cluster: SlurmCluster, probe_package: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sweep(probe_package, [1, 2])  # learns what the cluster has

    recorder = Recorder(monkeypatch)
    _, work_unit = sweep(probe_package, [3, 4, 5])
    submits = [c for c in recorder.commands if "sbatch" in c]
    assert len(submits) == 1 and "base64 -d | tar -xzf -" in submits[0]
    assert recorder.uploads == []  # no rsync at all
    assert seeds_seen(slurm_cluster, work_unit) == ["--seed=3", "--seed=4", "--seed=5"]

    # Someone cleans the artifacts on the cluster: the next launch sends them again.
    ssh(f"rm -rf {slurm_cluster.staging}/artifacts")
    recorder.commands.clear()
    _, work_unit = sweep(probe_package, [6])
    assert any(name.startswith("artifacts/") for files in recorder.uploads for name in files)
    assert seeds_seen(slurm_cluster, work_unit) == ["--seed=6"]
