"""The first `lxm3 launch` of a launcher: the connection and the cluster's facts come during the build.

A real `lxm3 launch` (new process) of a never-launched launcher with a config
naming one cluster (the testbed's Slurm), cold caches: the connection the
launch submits over must be the one opened ahead (ONE connection), and the
cluster's first questions (MaxArraySize, the job limits) must have been
answered by the one command sent ahead, not asked again after the build.
The job is submitted held and cancelled at once.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from tests.e2e.conftest import SlurmCluster, ssh
from tests.packages import universal_package

from .conftest import run_lxm3

pytestmark = [pytest.mark.slurm, pytest.mark.ssh, pytest.mark.timeout(300)]

LAUNCHER = """\
import json, os
from absl import app
from lxm3 import xm, xm_cluster


def main(_):
    with xm_cluster.create_experiment("first-launch") as experiment:
        spec = xm_cluster.UniversalPackage(entrypoint=["python3", "task.py"], build_script="build.sh")
        [executable] = experiment.package([xm.Packageable(spec, executor_spec=xm_cluster.Slurm.Spec())])
        executor = xm_cluster.Slurm(extra_directives=["--hold"])
        args = [{"seed": seed} for seed in range(5)]
        work_unit = experiment.add(xm_cluster.ArrayJob(executable, executor, args=args)).result()
        [job] = work_unit.jobs
        transport = job.target.transport()
        counters = {
            "connections": transport.connections,
            "reused": transport.reused,
            "answered": transport.answers.given,
            "jobs": [submitted.job_id for submitted in job.submitted],
        }
        with open(os.environ["FIRST_LAUNCH_OUT"], "w") as out:
            json.dump(counters, out)


if __name__ == "__main__":
    app.run(main)
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = universal_package(tmp_path / "project", {"task.py": "print('task')\n"})
    (root / "launch.py").write_text(LAUNCHER)
    return root


def test_a_first_launch_submits_over_the_connection_opened_during_the_build(
    project: Path, slurm_cluster: SlurmCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "counters.json"
    monkeypatch.setenv("FIRST_LAUNCH_OUT", str(out))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cold-cache"))  # MaxArraySize, limits: not cached
    monkeypatch.delenv("LXM_CLUSTER", raising=False)
    monkeypatch.delenv("LXM3_PRECONNECT", raising=False)
    run_lxm3("launch", str(project / "launch.py"))
    counters = json.loads(out.read_text())
    try:
        # Opened by this launch, or a persistent master of an earlier one reused (ssh_persist).
        assert counters["connections"] + counters["reused"] == 1
        assert counters["answered"] == 2, "scontrol show config and the limits came from the fetch ahead"
        assert (tmp_path / "cold-cache/lxm3/clusters/testcluster.json").is_file(), "and were cached as usual"
    finally:
        ssh(f"scancel {' '.join(shlex.quote(job) for job in counters['jobs'])}", check=False)
