"""`lxm3 logs EXP [--wu N] [--task I] [--stderr] [-f]`: a task's output, from wherever it ran.

Task logs are `<job dir>/logs/<task>.out` and `.err` on the execution host;
they are read through the target's transport (one SSH connection for a
cluster). The logs of a rerun task are those of its latest attempt (earlier
ones are kept in `logs/attempt-<n>/`). `--follow` prints new output as it
arrives until the task has ended.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from lxm3.cli.common import add_experiment_arg, run_reporting

#: Seconds between reads when following; the scheduler is asked at most every STATUS_EVERY.
FOLLOW_INTERVAL = 1.0
STATUS_EVERY = 10.0

#: Prints the file's size, whether the completion file exists, then the bytes in [offset, size).
_FOLLOW_SCRIPT = (
    'f="$1"; e="$2"; off="$3"; n=$(wc -c < "$f" 2>/dev/null || echo 0); n=$((n + 0)); '
    'if [ -e "$e" ]; then done=1; else done=0; fi; printf "%s %s\\n" "$n" "$done"; '
    'if [ "$n" -gt "$off" ]; then tail -c +"$((off + 1))" "$f" | head -c "$((n - off))"; fi'
)


def add_parser(parser: argparse.ArgumentParser) -> None:
    add_experiment_arg(parser)
    parser.add_argument("--wu", type=int, metavar="N", help="work unit (needed when there are several)")
    parser.add_argument(
        "--task", type=int, metavar="I", help="task index (LXM_TASK_ID); all tasks when omitted"
    )
    parser.add_argument("--job", metavar="NAME", help="job name (needed when the unit has several)")
    parser.add_argument("--stderr", action="store_true", help="stderr instead of stdout")
    parser.add_argument(
        "-f", "--follow", action="store_true", help="keep printing new output until the task ends"
    )


def run(namespace: argparse.Namespace) -> int:
    return run_reporting(lambda: _run(namespace))


def _pick_job(experiment: Any, namespace: argparse.Namespace) -> Any:
    from lxm3.store.records import ReloadError

    units = experiment.work_units
    if not units:
        raise ReloadError(f"experiment {experiment.experiment_id} has no work units with jobs")
    if namespace.wu is None:
        if len(units) > 1:
            raise ReloadError(
                f"experiment {experiment.experiment_id} has {len(units)} work units; pick one with --wu "
                f"({', '.join(map(str, units))})"
            )
        unit = next(iter(units.values()))
    else:
        unit = experiment.select([namespace.wu])[0]
    jobs = unit.jobs
    if namespace.job is not None:
        jobs = [job for job in jobs if job.name == namespace.job]
    if len(jobs) != 1:
        names = ", ".join(job.name for job in unit.jobs) or "none"
        what = f"no job {namespace.job!r}" if namespace.job is not None else f"{len(unit.jobs)} jobs"
        raise ReloadError(f"work unit {unit.work_unit_id} has {what}; pick one with --job ({names})")
    return jobs[0]


def _run(namespace: argparse.Namespace) -> int:
    from lxm3.cli.common import open_experiment
    from lxm3.store.records import ReloadError

    experiment = open_experiment(namespace)
    job = _pick_job(experiment, namespace)
    stream = "err" if namespace.stderr else "out"
    if namespace.task is not None and not 0 <= namespace.task < job.num_tasks:
        raise ReloadError(
            f"job {job.name} has tasks 0..{job.num_tasks - 1}; there is no task {namespace.task}"
        )
    tasks = [namespace.task] if namespace.task is not None else list(range(job.num_tasks))
    if namespace.follow:
        if len(tasks) != 1:
            raise ReloadError(f"job {job.name} has {job.num_tasks} tasks; pick the one to follow with --task")
        return _follow(experiment, job, tasks[0], stream)
    owners = job.owners()
    transport = experiment.target_for(job.first).transport()
    missing = []
    for task in tasks:
        path = owners.get(task, job.first).log_path(task, stream)
        if len(tasks) > 1:
            sys.stdout.write(f"==> work unit {job.work_unit_id} {job.name} task {task}: {path} <==\n")
        result = transport.run(["cat", path], check=False)
        if result.returncode != 0:
            missing.append((task, path))
            if len(tasks) > 1:
                sys.stdout.write("(no log yet)\n")
            continue
        sys.stdout.write(result.stdout)
        if len(tasks) > 1 and result.stdout and not result.stdout.endswith("\n"):
            sys.stdout.write("\n")
        sys.stdout.flush()
    if len(tasks) == 1 and missing:
        return _explain_missing(experiment, job, *missing[0])
    return 0


def _explain_missing(experiment: Any, job: Any, task: int, path: str) -> int:
    from lxm3.cli.errors import fail

    results = experiment.task_statuses([job.work_unit_id])[job.work_unit_id]
    status = next((statuses.get(task) for stored, statuses in results if stored.name == job.name), None)
    state = status.state.value.lower() if status is not None else "unknown"
    if experiment.record.get("cleaned"):
        return fail(
            f"task {task} ({state}) has no log at {path}: `lxm3 clean` removed the experiment's files"
        )
    if state in ("pending", "unknown"):
        return fail(f"task {task} has not started yet ({state}); its log will be {path}")
    return fail(f"task {task} ({state}) has no log at {path}")


def _follow(experiment: Any, job: Any, task: int, stream: str) -> int:
    owner = job.owners().get(task, job.first)
    path = owner.log_path(task, stream)
    exit_file = owner.log_path(task, "exit")
    transport = experiment.target_for(owner).transport()
    offset = 0
    last_status = 0.0
    final_reads = 0
    while True:
        result = transport.run(["bash", "-c", _FOLLOW_SCRIPT, "lxm3-follow", path, exit_file, str(offset)])
        head, _, body = result.stdout.partition("\n")
        size_text, _, done_text = head.partition(" ")
        size = int(size_text or 0)
        if size < offset:  # truncated or replaced (a rerun moved the old log away): start over
            offset = 0
            continue
        if body:
            sys.stdout.write(body)
            sys.stdout.flush()
        offset = size
        ended = done_text.strip() == "1"
        now = time.monotonic()
        if not ended and now - last_status >= STATUS_EVERY:
            # The scheduler knows about ends that leave no completion file (cancelled while pending, killed).
            last_status = now
            results = experiment.task_statuses([job.work_unit_id])[job.work_unit_id]
            status = next(
                (statuses.get(task) for stored, statuses in results if stored.name == job.name), None
            )
            ended = status is not None and status.state.is_terminal
        if ended:
            # One more read catches output written between the size check and the end.
            final_reads += 1
            if final_reads > 1:
                return 0
            continue
        time.sleep(FOLLOW_INTERVAL)
