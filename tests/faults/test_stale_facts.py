"""A cached cluster fact is a hint: when the scheduler refuses because of it, ask again.

The testbed allows arrays of 101 tasks (Slurm MaxArraySize, Grid Engine
max_aj_tasks). With a stale limit of 5000 in lxm3's cache, a 110-task sweep
goes out as ONE array; the scheduler refuses it; lxm3 asks the limit again,
re-splits (101 + 9), submits once more, and updates the cache. The refusal
is not recorded as a failure.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from lxm3 import xm, xm_cluster
from lxm3.schedulers.slurm import default_cache_dir
from lxm3.xm.status import TaskState
from lxm3.xm_cluster import targets
from tests.e2e.conftest_sge import sge_cluster, sge_remote_root, sge_testbed  # noqa: F401

from .conftest import ssh

pytestmark = [pytest.mark.ssh]


def sweep(executor: Any, spec: Any, package: Any, before_add: Any = None) -> Any:
    with xm_cluster.create_experiment("stale") as experiment:
        [executable] = experiment.package([xm.Packageable(package, executor_spec=spec)])
        if before_add is not None:
            before_add()
        job = xm_cluster.ArrayJob(executable, executor, args=[{"i": i} for i in range(110)])
        unit = experiment.add(job).result()
        unit.wait_until_complete()
    return experiment, unit


def check(experiment: Any, unit: Any) -> None:
    [launched] = unit.jobs
    assert [s.chunk.count for s in launched.submitted] == [101, 9]
    reloaded = xm_cluster.get_experiment(experiment.experiment_id)
    [(_, statuses)] = reloaded.task_statuses()[1]
    assert len(statuses) == 110 and all(s.state is TaskState.COMPLETED for s in statuses.values())
    assert len(reloaded.store.jobs(experiment.experiment_id)) == 1  # the refusal left no FAILED row


@pytest.mark.slurm
def test_slurm_rereads_max_array_size_after_a_refusal(
    slurm_cluster: Any, probe_package: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = default_cache_dir() / "testcluster.json"
    cache.parent.mkdir(parents=True, exist_ok=True)
    host = None
    if cache.exists():
        host = json.loads(cache.read_text()).get("max_array_size", {}).get("host")
    if host is None:  # learn the transport's label once, then make the cached fact stale
        sweep(xm_cluster.Slurm(), xm_cluster.Slurm.Spec(), probe_package)
        host = json.loads(cache.read_text())["max_array_size"]["host"]
    cache.write_text(json.dumps({"max_array_size": {"value": 5000, "host": host, "time": time.time()}}))
    experiment, unit = sweep(xm_cluster.Slurm(), xm_cluster.Slurm.Spec(), probe_package)
    check(experiment, unit)
    assert json.loads(cache.read_text())["max_array_size"]["value"] == 101


@pytest.mark.sge
def test_grid_engine_rereads_max_aj_tasks_after_a_refusal(sge_cluster: Any, probe_package: Any) -> None:  # noqa: F811
    def make_stale() -> None:
        target = targets.get_target(xm_cluster.GridEngine(), xm_cluster.config.load_config())
        target.max_array_size()
        target._max_array_size = 5000  # as if max_aj_tasks went down since it was read
        target.scheduler._max_array_size = 5000

    experiment, unit = sweep(xm_cluster.GridEngine(), xm_cluster.GridEngine.Spec(), probe_package, make_stale)
    check(experiment, unit)
    assert ssh("qconf -sconf | grep max_aj_tasks").stdout.split()[1] == "101"
