"""What tasks leave behind, read back: each task's metrics and args, one command per cluster.

Every task has an output dir on its execution host, `<job dir>/outputs/<task>/`
(`LXM_OUTPUT_DIR`), that outlives the task, and appends JSON lines to
`metrics.jsonl` in it (`LXM_METRICS_FILE`, `lxm3.report`). This module reads
them for launched work units (`work_unit.metrics()`), reloaded ones
(`xm_cluster.get_experiment(N).work_units[1].metrics()`) and `lxm3 metrics`:
the jobs are grouped by target and each target gets ONE command
(`lxm3.runtime.metrics_reader`, run by the cluster's python3) however many
tasks there are. A task's args come from the task table in the local mirror
of the staging dir, or from the cluster's copy in the same command.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from lxm3.runtime import metrics_reader
from lxm3.runtime.task_runner import SHELL_ITEM_KEY
from lxm3.xm_cluster.targets import Target

#: The name of a task's metrics file in its output dir (what LXM_METRICS_FILE points to).
METRICS_NAME = metrics_reader.METRICS_NAME


@attrs.frozen
class JobOutputs:
    """Where one job's task outputs are: the job dir on its host, and its local mirror."""

    work_unit_id: int
    name: str
    num_tasks: int
    #: `<staging>/experiments/<exp>/<wu>/<job>` on the execution host.
    job_dir: str
    #: The same dir in this machine's mirror of the staging root (holds the task table), if known.
    local_dir: str | None
    target: Target

    @property
    def outputs_dir(self) -> str:
        return f"{self.job_dir}/outputs"

    def task_output_dir(self, task: int) -> str:
        """A task's `LXM_OUTPUT_DIR`."""
        return f"{self.outputs_dir}/{task}"


@attrs.frozen
class TaskMetrics:
    """One task's args and the last value of each of its metrics (empty when it reported none)."""

    work_unit_id: int
    job: str
    index: int
    args: dict[str, Any]
    metrics: dict[str, Any]
    #: (step, value) pairs of the metric asked for with `series=`.
    series: tuple[tuple[float, float], ...] = ()


_INT = re.compile(r"^[+-]?\d+$")
_FLOAT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def _value(text: str) -> Any:
    """`"0.001"` -> 0.001, `"3"` -> 3, anything else stays text (for display and sorting only)."""
    if _INT.match(text):
        return int(text)
    if _FLOAT.match(text):
        return float(text)
    return text


def args_dict(items: Sequence[Any]) -> dict[str, Any]:
    """A task's argv items as a dict: `--k=v` -> k: v, `--flag` -> flag: True, others by position."""
    result: dict[str, Any] = {}
    for position, item in enumerate(items):
        if isinstance(item, dict):
            item = item.get(SHELL_ITEM_KEY, "")
        text = str(item)
        if text.startswith("--") and len(text) > 2:
            name, equals, value = text[2:].partition("=")
            result[name] = _value(value) if equals else True
        else:
            result[str(position)] = _value(text)
    return result


def _local_args(job: JobOutputs) -> list[list[Any]] | None:
    if not job.local_dir:
        return None
    table = Path(job.local_dir) / "tasks.jsonl"
    if not table.is_file():
        return None
    return metrics_reader.read_task_args(str(table))


def _read_on_target(
    target: Target, jobs: Sequence[JobOutputs], series: str | None, args_of: set[int]
) -> dict[str, Any]:
    """The reader's document for jobs of one target: ONE command (none for this machine)."""
    dirs = [job.job_dir for job in jobs]
    if target.is_local:
        return metrics_reader.read_jobs(dirs, series, args_of)
    source = Path(metrics_reader.__file__).read_text()
    argv = [target.python or "python3", "-c", source]
    if series is not None:
        argv += ["--series", series]
    for index in sorted(args_of):
        argv += ["--args", str(index)]
    result = target.transport().run([*argv, "--", *dirs])
    return json.loads(result.stdout)


def read_metrics(
    jobs: Sequence[JobOutputs], *, series: str | None = None, with_args: bool = True
) -> list[TaskMetrics]:
    """Every task of `jobs`, in (work unit, job, task) order, with its metrics' last values.

    One command per target for all of them. Tasks without a metrics file (not
    started, or reporting nothing) get `{}`; malformed lines are skipped.
    """
    groups: dict[int, tuple[Target, list[JobOutputs]]] = {}
    for job in jobs:
        groups.setdefault(id(job.target), (job.target, []))[1].append(job)
    documents: dict[tuple[int, str], tuple[dict[str, Any], list[list[Any]] | None]] = {}
    for target, members in groups.values():
        local_args = [_local_args(job) if with_args else None for job in members]
        args_of = {i for i, found in enumerate(local_args) if with_args and found is None}
        document = _read_on_target(target, members, series, args_of)
        for job, entry, found in zip(members, document["jobs"], local_args, strict=True):
            documents[(job.work_unit_id, job.name)] = (entry, found if found is not None else entry["args"])
    results = []
    for job in jobs:
        entry, argv_table = documents[(job.work_unit_id, job.name)]
        for task in range(job.num_tasks):
            data = entry["tasks"].get(str(task), {})
            items = argv_table[task] if argv_table is not None and task < len(argv_table) else []
            results.append(
                TaskMetrics(
                    work_unit_id=job.work_unit_id,
                    job=job.name,
                    index=task,
                    args=args_dict(items),
                    metrics=dict(data.get("last", {})),
                    series=tuple((step, value) for step, value in data.get("series", [])),
                )
            )
    return results


def stored_job_outputs(job: Any, target: Target) -> JobOutputs:
    """A job reloaded from the store (`reload.StoredJob`): every attempt shares its first one's job dir."""
    first = job.first
    return JobOutputs(
        job.work_unit_id, job.name, job.num_tasks, first.remote_dir, getattr(first, "local_dir", None), target
    )


def unit_metrics(jobs: Sequence[JobOutputs], job: str | None = None) -> dict[int, dict[str, Any]]:
    """`work_unit.metrics()`: task index -> {metric: last value} for the unit's (only, or named) job."""
    names = [j.name for j in jobs]
    if job is not None:
        chosen = [j for j in jobs if j.name == job]
        if not chosen:
            raise ValueError(f"the work unit has no job {job!r} (jobs: {', '.join(names) or 'none'})")
    elif len(jobs) > 1:
        raise ValueError(
            f"the work unit has {len(jobs)} jobs; name one: metrics(job=...) ({', '.join(names)})"
        )
    else:
        chosen = list(jobs)
    return {task.index: task.metrics for task in read_metrics(chosen, with_args=False)}
