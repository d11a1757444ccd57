"""`lxm3.report(loss=0.3, step=10)`: a task's metrics, one JSON line at a time.

Standard library only, and cheap to import (json is imported on first use),
so a training script can call it without pulling in lxm3's launcher. Inside
a task, lxm3's runner sets `LXM_METRICS_FILE` (`<job dir>/outputs/<task>/
metrics.jsonl`); outside one, `report` does nothing, so the same script runs
on a laptop unchanged. Any language can do the same: append one JSON object
per line to `$LXM_METRICS_FILE`.
"""

from __future__ import annotations

import os
from typing import Any

METRICS_FILE_ENV = "LXM_METRICS_FILE"
OUTPUT_DIR_ENV = "LXM_OUTPUT_DIR"


def _number(name: str, value: Any) -> int | float:
    if isinstance(value, bool | int | float):
        return value
    try:
        return float(value)  # numpy / torch scalars
    except (TypeError, ValueError):
        raise TypeError(f"lxm3.report: metric {name!r} must be a number, got {value!r}") from None


def report(**metrics: Any) -> None:
    """Appends `metrics` as one JSON line to `$LXM_METRICS_FILE`; a no-op outside a task.

    Values must be numbers (numpy/torch scalars are converted). Name one `step`
    to plot against it (`lxm3 metrics EXP --plot loss`); without it, the line's
    position counts as the step. The line is written with one `write` on an
    O_APPEND descriptor, so a reader never sees half of it.
    """
    path = os.environ.get(METRICS_FILE_ENV)
    if not path or not metrics:
        return
    import json

    line = json.dumps({name: _number(name, value) for name, value in metrics.items()}) + "\n"
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(descriptor, line.encode("utf-8"))
    finally:
        os.close(descriptor)


def output_dir() -> str | None:
    """The task's output dir (`$LXM_OUTPUT_DIR`), kept after the task ends; None outside a task."""
    return os.environ.get(OUTPUT_DIR_ENV) or None
