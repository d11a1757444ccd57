"""The study's record of its trials, kept with the experiment.

One JSON file per study, rewritten atomically (temp file, then rename) after
every change, so an interrupted search (Ctrl-C, a requeued controller) finds
every trial it asked for, submitted or finished when it runs again. It lives
beside the experiment store that holds the experiment (`<store dir>/studies/
<experiment id>/<study name>.json`), 0700/0600 like the store itself.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

#: Trial states. PENDING: asked for and recorded, not yet known to be submitted.
PENDING, RUNNING, COMPLETED, FAILED, CANCELLED = "PENDING", "RUNNING", "COMPLETED", "FAILED", "CANCELLED"
FINISHED = (COMPLETED, FAILED, CANCELLED)


@attrs.define
class Trial:
    """One point of the search: its params, where it ran, and how it ended."""

    number: int
    params: dict[str, Any]
    state: str = PENDING
    value: float | None = None
    work_unit_id: int | None = None
    message: str = ""
    submitted_at: float | None = None
    ended_at: float | None = None
    #: The last value of every metric the trial reported (its value is `metrics[study.metric]`).
    metrics: dict[str, float] = attrs.field(factory=dict)

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    def to_json(self) -> dict[str, Any]:
        return attrs.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Trial:
        names = {field.name for field in attrs.fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in names})


def journal_path(experiment: Any, name: str) -> Path:
    """Where `experiment`'s study `name` is recorded."""
    return studies_dir(experiment) / f"{name}.json"


def studies_dir(experiment: Any) -> Path:
    """The folder holding every study journal of `experiment`."""
    store = getattr(experiment, "store", None)
    store_path = getattr(store, "path", None)
    if store_path is not None:
        base = Path(store_path).parent
    else:
        data = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
        base = Path(data) / "lxm3"
    return base / "studies" / str(experiment.experiment_id)


def recorded_studies(experiment: Any) -> list[tuple[str, dict[str, Any], list[Trial]]]:
    """(name, settings, trials) of every study recorded for `experiment`, by name."""
    folder = studies_dir(experiment)
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.glob("*.json")):
        try:
            settings, trials = Journal(path).load()
        except ValueError:
            continue  # a damaged journal must not hide the experiment's status
        found.append((path.stem, settings, trials))
    return found


def best_so_far(trials: list[Trial], goal: str) -> list[tuple[int, float]]:
    """(trial number, best value among trials up to it) for each completed trial, in order."""
    better = min if goal == "minimize" else max
    best: float | None = None
    points = []
    for trial in sorted(trials, key=lambda t: t.number):
        if trial.state == COMPLETED and trial.value is not None:
            best = trial.value if best is None else better(best, trial.value)
            points.append((trial.number, best))
    return points


class Journal:
    """Reads and atomically rewrites one study's trial list."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> tuple[dict[str, Any], list[Trial]]:
        """(the study's recorded settings, its trials); empty for a new study."""
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}, []
        except (OSError, ValueError) as error:
            raise ValueError(f"cannot read the study record {self.path}: {error}") from None
        return dict(data.get("settings", {})), [Trial.from_json(t) for t in data.get("trials", [])]

    def save(self, settings: Mapping[str, Any], trials: list[Trial]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        payload = json.dumps({"settings": dict(settings), "trials": [t.to_json() for t in trials]}, indent=1)
        fd, temp = tempfile.mkstemp(prefix=".study-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w") as out:
                out.write(payload)
            os.replace(temp, self.path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
