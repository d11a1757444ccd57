"""Which parameter controllers may have news, told from the store's rows alone.

Lives here (not in `lxm3.xm_cluster.controller`) so `lxm3 list` can decide
without importing the backend: an experiment without a controller, or whose
controllers ended and had their journal read after that, needs no cluster.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

#: The key of the controller unit's args in the store (marks the unit as a controller).
ARGS_KEY = "lxm3_controller"
#: Auxiliary unit ids start above this (see ClusterExperiment._create_experiment_unit).
AUX_BASE = 100000


def latest_row(rows: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    """A unit's job row of its latest attempt."""
    return max(rows, key=lambda row: (int(row.get("attempt") or 1), int(row["id"])))


def journal_may_have_news(rows: Sequence[Mapping[str, Any]], info: Mapping[str, Any]) -> bool:
    """Whether a controller unit (its job rows, its `ARGS_KEY` args) must have its journal read.

    Not once its latest job had ended before the last read (`synced_row`):
    nothing can be added after that.
    """
    if not rows:
        return False
    latest = latest_row(rows)
    return not (latest.get("final") and info.get("synced_row") == int(latest["id"]))


def experiments_with_news(
    rows_by_experiment: Mapping[int, Sequence[Mapping[str, Any]]],
    unit_args: Any,
) -> list[int]:
    """The experiments (of those given) with a controller that may have news.

    `unit_args(experiment_id)` gives the experiment's work unit rows; it is
    called only for experiments that have auxiliary units.
    """
    found = []
    for experiment_id, rows in rows_by_experiment.items():
        aux = {int(row["work_unit_id"]) for row in rows if int(row["work_unit_id"]) > AUX_BASE}
        if not aux:
            continue
        args = {int(unit["work_unit_id"]): unit.get("args") for unit in unit_args(experiment_id)}
        for work_unit_id in aux:
            info = args.get(work_unit_id)
            if not isinstance(info, dict) or not isinstance(info.get(ARGS_KEY), dict):
                continue
            own = [row for row in rows if int(row["work_unit_id"]) == work_unit_id]
            if journal_may_have_news(own, info[ARGS_KEY]):
                found.append(experiment_id)
                break
    return found
