"""`lxm3 launch --wait` (and `lxm3 rerun`): a live view of an experiment until every task ends.

Polls like the status watcher (one scheduler query per cluster per poll, the
interval ramping up to `$LXM3_POLL_MAX_INTERVAL` seconds) and redraws one row
per job with a bar and the task counts. Without a terminal it prints a line
whenever the counts change instead. A cluster that cannot be asked is shown
and retried; the wait only ends when every task has ended.
"""

from __future__ import annotations

import collections
import time
from typing import Any

#: Rows shown at most; the rest are summed up in one line.
MAX_ROWS = 20


def _final(results: dict[int, list[tuple[Any, dict[int, Any]]]]) -> bool:
    return all(
        s.state.is_terminal for jobs in results.values() for _, statuses in jobs for s in statuses.values()
    )


def _counts(results: dict[int, list[tuple[Any, dict[int, Any]]]]) -> collections.Counter[str]:
    from lxm3.cli.common import public_state

    return collections.Counter(
        public_state(s.state) for jobs in results.values() for _, statuses in jobs for s in statuses.values()
    )


def _render(
    experiment: Any, results: dict[int, list[tuple[Any, dict[int, Any]]]], errors: list[str], started: float
) -> Any:
    from rich.console import Group
    from rich.progress_bar import ProgressBar
    from rich.table import Table
    from rich.text import Text

    from lxm3.cli.common import counts_text, literal, public_state

    table = Table(box=None, pad_edge=False, show_header=True)
    for column in ("WU", "JOB", "", "TASKS"):
        table.add_column(column)
    rows = [(wu, job, statuses) for wu, jobs in results.items() for job, statuses in jobs]
    for wu, job, statuses in rows[:MAX_ROWS]:
        done = sum(1 for s in statuses.values() if s.state.is_terminal)
        counts = collections.Counter(public_state(s.state) for s in statuses.values())
        table.add_row(
            str(wu),
            literal(job.name),
            ProgressBar(total=max(1, len(statuses)), completed=done, width=30),
            counts_text(dict(counts)),
        )
    if len(rows) > MAX_ROWS:
        table.add_row("...", f"and {len(rows) - MAX_ROWS} more job(s)", "", "")
    total = _counts(results)
    elapsed = int(time.monotonic() - started)
    summary = (
        f"[bold]experiment {experiment.experiment_id}[/] {experiment.title!r}: {counts_text(dict(total))}"
    )
    summary += f"  [bright_black]{elapsed // 60}:{elapsed % 60:02d}[/]"
    parts: list[Any] = [Text.from_markup(summary), table]
    for error in errors[-3:]:
        parts.append(Text(f"cannot ask {error} (retrying)", style="yellow"))
    return Group(*parts)


def wait_with_progress(
    experiment_id: int | None, *, experiment: Any = None, stop_on_interrupt: bool = False
) -> int:
    """Shows progress until every task of the experiment ended; 1 if any failed or was cancelled.

    Ctrl-C stops watching (the jobs keep running) and returns 130; with
    `stop_on_interrupt` it instead cancels the jobs and waits for them to stop
    (for local jobs run by this process).
    """
    from lxm3.cli.common import console, counts_text
    from lxm3.cli.errors import fail
    from lxm3.schedulers.watcher import poll_intervals
    from lxm3.xm_cluster.reloaded import get_experiment
    from lxm3.xm_cluster.status_reader import StatusReader

    if experiment is None:
        if experiment_id is None:
            print("lxm3: the launcher created no experiment; nothing to wait for")
            return 0
        experiment = get_experiment(experiment_id)
    out = console(stderr=True)
    started = time.monotonic()
    next_interval = poll_intervals(start=0.5)
    interrupted = False
    last_line = ""
    results: dict[int, list[tuple[Any, dict[int, Any]]]] = {}

    def poll() -> tuple[dict[int, list[tuple[Any, dict[int, Any]]]], list[str]]:
        from lxm3.xm_cluster.controller.sync import sync_quietly

        # A parameter controller adds units while we watch: learn of them from its journal.
        synced = sync_quietly(experiment.store, experiment.record, experiment.resolver)
        experiment.refresh()
        experiment.reuse_query_of(synced.asked_at)
        reader = StatusReader(experiment.store, experiment.resolver)
        return experiment.task_statuses(reader=reader, tolerate_errors=True), reader.errors

    from rich.live import Live

    live = Live(console=out, refresh_per_second=4, transient=False) if out.is_terminal else None
    if live is not None:
        live.start()
    try:
        while True:
            try:
                results, errors = poll()
                if live is not None:
                    live.update(_render(experiment, results, errors, started))
                else:
                    line = counts_text(dict(_counts(results)))
                    if line != last_line or errors:
                        out.print(f"lxm3: experiment {experiment.experiment_id}: {line}")
                        for error in errors:
                            out.print(f"lxm3: cannot ask {error} (retrying)", markup=False)
                        last_line = line
                if _final(results):
                    break
                time.sleep(next_interval())
            except KeyboardInterrupt:
                if not stop_on_interrupt or interrupted:
                    if live is not None:
                        live.stop()
                        live = None
                    return fail(
                        f"stopped waiting; see `lxm3 status {experiment.experiment_id}`, "
                        f"stop the jobs with `lxm3 cancel {experiment.experiment_id}`",
                        130,
                    )
                interrupted = True
                out.print("lxm3: interrupted; cancelling the tasks...")
                experiment.cancel()
    finally:
        if live is not None:
            live.stop()
    total = _counts(results)
    out.print(f"lxm3: experiment {experiment.experiment_id} ended: {counts_text(dict(total))}")
    if interrupted:
        return 130
    if total.get("FAILED") or total.get("CANCELLED"):
        out.print(
            f"lxm3: see `lxm3 status {experiment.experiment_id}`; rerun them with `lxm3 rerun {experiment.experiment_id} --failed`"
        )
        return 1
    return 0
