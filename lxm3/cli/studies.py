"""The hyperparameter studies of an experiment, for `lxm3 status` and `lxm3 metrics --plot`.

A study (`lxm3.contrib.search`) records its trials in a journal beside the
store; each trial is also an ordinary work unit. This module shows the trials
with their params and value, and the best value so far against trial number.
"""

from __future__ import annotations

from typing import Any

from lxm3.contrib.search.journal import best_so_far, recorded_studies


def _value(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def _params(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


def studies_json(experiment: Any) -> list[dict[str, Any]]:
    """The `"studies"` entry of `lxm3 status --json` (empty when the experiment has none)."""
    return [
        {
            "name": name,
            "metric": settings.get("metric"),
            "goal": settings.get("goal"),
            "algorithm": settings.get("algorithm"),
            "trials": [
                {
                    "number": t.number,
                    "work_unit_id": t.work_unit_id,
                    "state": t.state,
                    "params": t.params,
                    "value": t.value,
                    "message": t.message,
                }
                for t in trials
            ],
        }
        for name, settings, trials in recorded_studies(experiment)
    ]


def print_studies(out: Any, experiment: Any) -> None:
    """One table per study: trial, work unit, state, value, params; the best marked."""
    from rich.table import Table

    from lxm3.cli.common import literal, state_text

    for name, settings, trials in recorded_studies(experiment):
        goal = str(settings.get("goal", "minimize"))
        points = best_so_far(trials, goal)
        best = points[-1][1] if points else None
        done = sum(1 for t in trials if t.state == "COMPLETED")
        title = (
            f"study {literal(repr(name))}: {literal(settings.get('algorithm'))} search to {goal} {literal(settings.get('metric'))}, "
            f"{len(trials)} trial(s), {done} completed, best {_value(best)}"
        )
        table = Table(title=title, title_justify="left", box=None, pad_edge=False)
        for column in (
            "TRIAL",
            "WU",
            "STATE",
            literal(str(settings.get("metric", "VALUE")).upper()),
            "PARAMS",
            "",
        ):
            table.add_column(column)
        for trial in trials:
            mark = "best" if best is not None and trial.value == best and trial.state == "COMPLETED" else ""
            table.add_row(
                str(trial.number),
                "-" if trial.work_unit_id is None else str(trial.work_unit_id),
                state_text(trial.state),
                _value(trial.value),
                literal(_params(trial.params)),
                mark or literal(trial.message[:60]),
            )
        out.print(table)


def progress_series(experiment: Any, metric: str) -> list[tuple[str, list[tuple[float, float]]]]:
    """(label, [(trial number, best so far)]) for each study of `experiment` that optimises `metric`."""
    series = []
    for name, settings, trials in recorded_studies(experiment):
        if settings.get("metric") != metric:
            continue
        points = best_so_far(trials, str(settings.get("goal", "minimize")))
        if points:
            series.append((f"study {name}: best {metric} so far", [(float(n), v) for n, v in points]))
    return series
