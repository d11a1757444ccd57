"""`lxm3 cancel`'s first step: stop an experiment's parameter controllers.

`stop_controllers` leaves the stop mark (the controller adds nothing more),
stops the controller job and waits for it to end, then re-reads the journal
so the units it added last are cancelled too.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from typing import Any

import attrs

from lxm3.store.db import process_alive
from lxm3.xm_cluster.controller import journal
from lxm3.xm_cluster.controller.sync import controller_units, outcome, staging_root, sync_quietly


@attrs.define
class StopReport:
    """Controllers stopped by `stop_controllers`: scheduler jobs per target, local processes."""

    cancelled_jobs: dict[str, list[str]] = attrs.field(factory=dict)
    signalled: list[int] = attrs.field(factory=list)
    active_tasks: int = 0


def stop_controllers(
    experiment: Any, work_unit_ids: Sequence[int] | None, *, wait_seconds: float = 60.0
) -> StopReport:
    """Stops the experiment's running controllers (all, or those among `work_unit_ids`)."""
    from lxm3.schedulers.local_process import interrupt

    report = StopReport()
    units = controller_units(experiment.store, experiment.experiment_id)
    chosen = [wu for wu in units if work_unit_ids is None or wu in work_unit_ids]
    if not chosen:
        return report
    waits: list[tuple[int, Any, Any, str]] = []
    for work_unit_id, results in experiment.task_statuses(chosen).items():
        for job, statuses in results:
            owners = job.owners()
            live = [task for task, status in statuses.items() if not status.state.is_terminal]
            if not live:
                continue
            report.active_tasks += len(live)
            attempt = owners.get(live[0], job.first)
            target = experiment.target_for(attempt)
            transport = target.transport()
            directory = journal.controller_dir(
                staging_root(attempt.remote_dir, experiment.experiment_id), experiment.experiment_id
            )
            transport.run(["sh", "-c", 'mkdir -p "$1" && : > "$1/stop"', "lxm3-stop", directory])
            if attempt.is_local:
                pid = int(attempt.pid or 0)
                interrupt(pid)
                report.signalled.append(pid)
                waits.append((work_unit_id, attempt, transport, directory))
            else:
                job_ids = sorted({owners[task].chunk_of(task).submitted.job_id for task in live})
                target.scheduler.cancel(transport, job_ids)
                report.cancelled_jobs.setdefault(target.name, []).extend(job_ids)
                waits.append((work_unit_id, None, transport, directory))
    deadline = time.monotonic() + wait_seconds
    for work_unit_id, local, transport, directory in waits:
        while time.monotonic() < deadline:
            if local is not None:
                if not process_alive(local.pid, local.host, local.pid_start):
                    _forget_signal_exit(local)
                    break
            else:
                results = experiment.task_statuses([work_unit_id])[work_unit_id]
                if all(s.state.is_terminal for _, statuses in results for s in statuses.values()):
                    break
            time.sleep(0.3)
        _journal_cancel(transport, directory)
    sync_quietly(experiment.store, experiment.record, experiment.resolver)
    experiment.refresh()
    return report


def _journal_cancel(transport: Any, directory: str) -> None:
    """Ends the controller's journal as CANCELLED when it could not say so itself.

    Grid Engine's `qdel` (and a SIGKILL anywhere) ends the controller without
    the chance to write its `end` event.
    """
    path = f"{directory}/{journal.JOURNAL_NAME}"
    result = transport.run(["cat", path], check=False)
    if outcome(journal.parse(result.stdout if result.returncode == 0 else "")).get("state"):
        return
    line = json.dumps({"event": "end", "time": time.time(), "state": "CANCELLED", "by": "lxm3 cancel"})
    transport.run(["sh", "-c", 'printf "%s\\n" "$2" >> "$1"', "lxm3-journal", path, line])


def _forget_signal_exit(attempt: Any) -> None:
    """A Local controller stopped by `lxm3 cancel` left exit code 143: it was cancelled, not failed.

    Local jobs tell "cancelled" by the absence of an exit file once their process is gone.
    """
    for task in attempt.task_ids:
        path = attempt.log_path(task, "exit")
        try:
            with open(path) as handle:
                code = int(handle.read().strip())
        except (OSError, ValueError):
            continue
        if code > 128:
            os.unlink(path)
