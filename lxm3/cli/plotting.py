"""`lxm3 metrics EXP --plot METRIC`: METRIC against step, one line per task.

A PNG with matplotlib (the optional extra `lxm3[plot]`); without it, one line
saying how to get it, and the same picture drawn with characters in the
terminal, because people would rather look at a sweep than read it.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

#: The PNG's size in pixels (8 x 5 inches at 100 dpi).
PNG_SIZE = (800, 500)
_MARKS = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _label(task: Any, several_jobs: set[int]) -> str:
    job = f" {task.job}" if task.work_unit_id in several_jobs else ""
    return f"wu {task.work_unit_id}{job} task {task.index}"


def plot(
    experiment_id: int,
    metric: str,
    tasks: Sequence[Any],
    output: str | None,
    progress: Sequence[tuple[str, Sequence[tuple[float, float]]]] = (),
) -> int:
    """Writes the PNG (or draws in the terminal); 1 when no task reported METRIC.

    `progress` are a search study's (label, [(trial number, best value so far)]):
    drawn beside the per-task curves, as the study's own learning curve.
    """
    from lxm3.cli.errors import fail

    drawn = [task for task in tasks if task.series]
    if not drawn:
        return fail(f"no task of experiment {experiment_id} reported {metric!r}")
    jobs_of: dict[int, set[str]] = {}
    for task in tasks:
        jobs_of.setdefault(task.work_unit_id, set()).add(task.job)
    several_jobs = {unit for unit, names in jobs_of.items() if len(names) > 1}
    try:
        import matplotlib
    except ImportError:
        sys.stdout.write(
            "matplotlib is not installed; for a PNG: pip install 'lxm3[plot]' (pipx: pipx inject lxm3 matplotlib)\n"
        )
        sys.stdout.write(terminal_plot(metric, [(_label(t, several_jobs), t.series) for t in drawn]))
        if progress:
            sys.stdout.write(terminal_plot(f"best {metric} so far", progress, x_name="trial"))
        return 0
    matplotlib.use("Agg")
    from matplotlib import pyplot

    path = output or f"lxm3-{experiment_id}-{metric}.png"
    figure, all_axes = pyplot.subplots(
        1, 2 if progress else 1, figsize=(PNG_SIZE[0] / 100, PNG_SIZE[1] / 100), dpi=100, squeeze=False
    )
    axes = all_axes[0][0]
    if progress:
        trials_axes = all_axes[0][1]
        for label, points in progress:
            numbers, best = zip(*points, strict=True)
            trials_axes.step(numbers, best, where="post", label=label, linewidth=1.5)
        trials_axes.set_xlabel("trial")
        trials_axes.set_ylabel(f"best {metric} so far")
        trials_axes.legend(fontsize="small")
    for task in drawn:
        steps, values = zip(*task.series, strict=True)
        # A task that reported once is a point: without a marker it would not show at all.
        marker = "o" if len(steps) < 3 else None
        axes.plot(steps, values, label=_label(task, several_jobs), linewidth=1, marker=marker, markersize=4)
    axes.set_xlabel("step")
    axes.set_ylabel(metric)
    axes.set_title(f"experiment {experiment_id}: {metric}")
    if len(drawn) <= 20:
        axes.legend(fontsize="small")
    figure.savefig(path, dpi=100)
    pyplot.close(figure)
    sys.stdout.write(f"wrote {path} ({len(drawn)} task(s))\n")
    return 0


def terminal_plot(
    metric: str,
    lines: Sequence[tuple[str, Sequence[tuple[float, float]]]],
    width: int = 64,
    height: int = 16,
    x_name: str = "step",
) -> str:
    """A character plot: each line drawn with its own mark, axes labelled with their ranges."""
    points = [point for _, series in lines for point in series]
    xs = [float(x) for x, _ in points]
    ys = [float(y) for _, y in points]
    x_low, x_high = min(xs), max(xs)
    y_low, y_high = min(ys), max(ys)
    x_span = (x_high - x_low) or 1.0
    y_span = (y_high - y_low) or 1.0
    grid = [[" "] * width for _ in range(height)]
    for number, (_, series) in enumerate(lines):
        mark = _MARKS[number % len(_MARKS)]
        for x, y in series:
            column = round((float(x) - x_low) / x_span * (width - 1))
            line = height - 1 - round((float(y) - y_low) / y_span * (height - 1))
            grid[line][column] = mark
    top, bottom = f"{y_high:.4g}", f"{y_low:.4g}"
    margin = max(len(top), len(bottom))
    out = [f"{metric} against {x_name}"]
    for index, row in enumerate(grid):
        label = top if index == 0 else bottom if index == height - 1 else ""
        out.append(f"{label:>{margin}} |{''.join(row)}")
    out.append(f"{'':>{margin}} +{'-' * width}")
    right = f"{x_high:.4g}"
    out.append(f"{'':>{margin}}  {x_low:<.4g}{right:>{width - len(f'{x_low:.4g}')}}")
    for number, (label, _) in enumerate(lines):
        out.append(f"  {_MARKS[number % len(_MARKS)]}  {label}")
    return "\n".join(out) + "\n"
