"""Completion files (`<task>.exit`, written by the task runner) and how they meet the scheduler's word.

The runner writes a task's exit code atomically the moment the task ends,
while the scheduler's accounting (`sacct`, `qacct`) lags by seconds. As
submitit does, the file is read first and the scheduler is the fallback, but
only the scheduler knows why a task was killed (cancelled, timed out, out of
memory), so a final scheduler state, or an active one over a signal exit
code, is what counts then (see `combine`).
"""

from __future__ import annotations

from collections.abc import Sequence

from lxm3.transport.base import Transport
from lxm3.xm.status import TaskState, TaskStatus


def from_exit_code(task: int, code: int, job_id: str | None, log_path: str | None) -> TaskStatus:
    """The state a completion file alone tells: COMPLETED on 0, else FAILED."""
    state = TaskState.COMPLETED if code == 0 else TaskState.FAILED
    return TaskStatus(task, state, exit_code=code, log_path=log_path, job_id=job_id)


def combine(
    task: int, scheduler: TaskStatus | None, exit_code: int | None, job_id: str, log_path: str | None
) -> TaskStatus:
    """A task's state from the scheduler's word and the completion file's exit code.

    A final scheduler state wins (it knows about cancellation, timeouts, memory
    kills), taking the exit code from the file if it has none. Otherwise the
    file wins (the scheduler's accounting lags behind it), except for a task
    killed by a signal (code > 128, as after `scancel`/`qdel` or a time
    limit) that the scheduler still reports active: only the scheduler can say
    why, so its answer is awaited. A task nobody knows yet is pending.
    `log_path` None keeps the one the scheduler reported.
    """
    active = (
        scheduler is not None and scheduler.state is not TaskState.UNKNOWN and not scheduler.state.is_terminal
    )
    # TaskStatus(...) rather than attrs.evolve: this runs once per task, 100,000 times for a big sweep.
    if scheduler is not None and scheduler.state.is_terminal:
        code = scheduler.exit_code if scheduler.exit_code is not None else exit_code
        return TaskStatus(
            task,
            scheduler.state,
            code,
            scheduler.message,
            log_path or scheduler.log_path,
            scheduler.job_id or job_id,
        )
    if exit_code is not None and not (active and exit_code > 128):
        return from_exit_code(task, exit_code, job_id, log_path)
    if scheduler is not None and scheduler.state is not TaskState.UNKNOWN:
        return TaskStatus(
            task,
            scheduler.state,
            scheduler.exit_code,
            scheduler.message,
            log_path or scheduler.log_path,
            scheduler.job_id or job_id,
        )
    return TaskStatus(task, TaskState.PENDING, job_id=job_id, log_path=log_path)


_EXIT_SCRIPT = (
    'i=0; for d in "$@"; do printf "@@ %s\\n" "$i"; '
    "[ -d \"$d\" ] && (cd \"$d\" && find . -maxdepth 1 -name '*.exit' -exec grep -H '' {} + 2>/dev/null); "
    "i=$((i + 1)); done; true"
)


def read_exit_files(transport: Transport, log_dirs: Sequence[str]) -> list[dict[int, int]]:
    """The exit codes in each log dir (`<task>.exit`), read with ONE command.

    A failed command raises: read as "no files yet" it would hide an unreachable cluster.
    """
    if not log_dirs:
        return []
    result = transport.run(["bash", "-c", _EXIT_SCRIPT, "lxm3-exit", *log_dirs], check=True)
    codes: list[dict[int, int]] = [{} for _ in log_dirs]
    current: dict[int, int] | None = None
    for line in result.stdout.splitlines():
        if line.startswith("@@ "):
            index = int(line[3:]) if line[3:].isdigit() else -1
            current = codes[index] if 0 <= index < len(codes) else None
            continue
        name, _, value = line.partition(":")
        name = name.removeprefix("./")
        if current is None or not name.endswith(".exit"):
            continue
        try:
            current[int(name[: -len(".exit")])] = int(value.strip())
        except ValueError:
            continue
    return codes
