"""Slurm-only end to end: what the testbed's Slurm alone does (the shared launches are in
test_cluster_e2e.py, run on Slurm and Grid Engine alike). The testbed being down makes these
tests fail.
"""

from __future__ import annotations

from typing import Any

import pytest

from lxm3 import xm, xm_cluster
from lxm3.schedulers.base import SchedulerError

from .conftest import SlurmCluster

pytestmark = [pytest.mark.slurm, pytest.mark.ssh]


def package(experiment: Any, spec: Any) -> Any:
    [executable] = experiment.package([xm.Packageable(spec, executor_spec=xm_cluster.Slurm.Spec())])
    return executable


@pytest.mark.timeout(120)
def test_rejected_submission_gives_sbatch_reason(slurm_cluster: SlurmCluster, probe_package: Any) -> None:
    # The refusal surfaces from the unit's launch, and again when the experiment closes.
    with pytest.raises(SchedulerError) as caught, xm_cluster.create_experiment("e2e-rejected") as experiment:
        executable = package(experiment, probe_package)
        experiment.add(xm.Job(executable, xm_cluster.Slurm(partition="no-such-partition"))).result()
    message = str(caught.value)
    assert "invalid partition specified: no-such-partition" in message
    assert "Invalid partition name specified" in message
    assert "testcluster" in message
