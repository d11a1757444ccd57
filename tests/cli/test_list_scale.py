"""`lxm3 list` with many finished experiments: answered from the store's cached states alone.

Finished experiments need no scheduler and no experiment machinery, so the
command does not even import `lxm3.xm_cluster` (whose import alone used to
cost more than listing 1,000 experiments).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lxm3.cli.list import aggregate_names
from lxm3.store.db import ExperimentStore
from lxm3.xm.status import TaskState, aggregate_state

LIST_AND_REPORT = (
    "import io, json, sys, contextlib\n"
    "from lxm3.cli.main import main\n"
    "out = io.StringIO()\n"
    "with contextlib.redirect_stdout(out):\n"
    "    code = main(['list', '--json', '--limit', '5'])\n"
    "print(json.dumps({'code': code, 'list': json.loads(out.getvalue()),"
    " 'xm_cluster': 'lxm3.xm_cluster' in sys.modules,"
    " 'heavy': [m for m in ('asyncio', 'lxm3.xm.core', 'jinja2') if m in sys.modules]}))\n"
)


def add_finished(store: ExperimentStore, title: str, states: list[str], *, attempt: int = 1) -> int:
    experiment_id = store.create_experiment(title)
    store.add_work_unit(experiment_id, 1, {})
    row = store.add_job(
        experiment_id,
        1,
        {
            "name": "j",
            "target": "cl",
            "scheduler": "slurm",
            "num_tasks": len(states),
            "remote_dir": f"/x/experiments/{experiment_id}/1/j",
            "submitted": [{"job_id": "1", "offset": 0, "count": len(states), "script": "/x/s"}],
        },
    )
    store.set_final({row: {t: {"state": s, "exit_code": 0} for t, s in enumerate(states)}})
    return experiment_id


def test_finished_experiments_are_listed_from_the_store_alone(tmp_path: Path) -> None:
    store = ExperimentStore(tmp_path / "store.sqlite3")
    for number in range(300):
        add_finished(store, f"exp {number}", ["COMPLETED"] * 10)
    rerun = add_finished(store, "rerun", ["COMPLETED", "FAILED", "FAILED"])
    store.add_attempt(rerun)
    row = store.add_job(
        rerun,
        1,
        {
            "attempt": 2,
            "name": "j",
            "target": "cl",
            "scheduler": "slurm",
            "num_tasks": 3,
            "remote_dir": f"/x/experiments/{rerun}/1/j",
            "submitted": [{"job_id": "2", "offset": 0, "count": 2, "script": "/x/s2", "task_ids": [1, 2]}],
            "task_ids": [1, 2],
        },
    )
    store.set_final({row: {1: {"state": "COMPLETED"}, 2: {"state": "FAILED"}}})
    result = subprocess.run(
        [sys.executable, "-c", LIST_AND_REPORT],
        env={"LXM3_STORE": str(tmp_path / "store.sqlite3"), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    report = json.loads(result.stdout)
    assert report["code"] == 0 and not report["xm_cluster"], "no experiment machinery for finished ones"
    assert report["heavy"] == [], (
        "nor the XManager API, asyncio or Jinja (import time is most of `lxm3 list`)"
    )
    first = report["list"][0]
    assert first["experiment_id"] == rerun
    assert first["tasks"] == {"COMPLETED": 2, "FAILED": 1}, "each task's latest attempt counts"
    assert (first["state"], first["attempts"], first["targets"]) == ("FAILED", 2, ["cl"])
    assert [entry["tasks"] for entry in report["list"][1:]] == [{"COMPLETED": 10}] * 4


@pytest.mark.parametrize(
    "states",
    [
        [],
        ["COMPLETED"],
        ["COMPLETED", "FAILED"],
        ["CANCELLED", "COMPLETED"],
        ["FAILED", "CANCELLED"],
        ["UNKNOWN", "FAILED"],
        ["PENDING", "RUNNING"],
        ["PENDING", "COMPLETED"],
    ],
)
def test_aggregate_names_agrees_with_aggregate_state(states: list[str]) -> None:
    expected = aggregate_state(TaskState(s) for s in states).value
    assert aggregate_names(states) == ("PENDING" if expected == "UNKNOWN" and states else expected)
