"""Which job rows the user asked to cancel (`lxm3 cancel`), kept beside the experiment database.

A cancelled task's runner may die of SIGTERM (exit 143 in its completion file)
before the scheduler's accounting says CANCELLED, or after the scheduler
forgot the job; without the user's intent on record, `lxm3 status` would show
such a task FAILED. The table is created on the first cancel (no schema
migration), and a store that never saw one, or that is read-only, simply has
no requests.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable

from lxm3.store.db import ExperimentStore

_CREATE = "CREATE TABLE IF NOT EXISTS cancel_requests (job_row INTEGER PRIMARY KEY, created REAL NOT NULL)"


def mark(store: ExperimentStore, job_rows: Iterable[int]) -> None:
    """Records that the user cancelled these job rows (before the scheduler is asked)."""
    rows = sorted(set(job_rows))
    if not rows:
        return
    now = time.time()
    with store._transaction() as db:
        db.execute(_CREATE)
        db.executemany(
            "INSERT OR IGNORE INTO cancel_requests (job_row, created) VALUES (?, ?)", [(r, now) for r in rows]
        )


def requested(store: ExperimentStore, job_rows: Iterable[int]) -> set[int]:
    """The job rows among `job_rows` the user asked to cancel."""
    rows = list(set(job_rows))
    found: set[int] = set()
    try:
        db = store._connection()
        for start in range(0, len(rows), 500):
            part = rows[start : start + 500]
            marks = ",".join("?" * len(part))
            found.update(
                row[0]
                for row in db.execute(f"SELECT job_row FROM cancel_requests WHERE job_row IN ({marks})", part)
            )
    except sqlite3.OperationalError:  # no cancel ever recorded (no table yet)
        return set()
    return found
