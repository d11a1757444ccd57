"""Workstation side: learn what a controller did from its journal; stop it before a cancel.

`sync_experiment` reads the journal of each controller unit of an experiment
(one command on the controller's target) and records, in the store, every
unit and job the controller added that the store lacks, with the controller
process as the owner of Local jobs. The controller unit's args keep how it
ended (state, the error's first line) and, once its job has ended and the
journal was read after that, a mark that makes later reads skip it.

`stop_controllers` is the first step of `lxm3 cancel`: it leaves the stop mark
(the controller adds nothing more), stops the controller job and waits for it
to end, then re-reads the journal so the units it added last are cancelled too.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from lxm3.config import Config, ConfigError
from lxm3.store.db import ExperimentStore, process_alive
from lxm3.xm_cluster import targets
from lxm3.xm_cluster.controller import ARGS_KEY, journal

log = logging.getLogger(__name__)


def controller_units(store: ExperimentStore, experiment_id: int) -> dict[int, dict[str, Any]]:
    """Work unit id -> the controller's info, for the experiment's controller units."""
    units = {}
    for row in store.work_units(experiment_id):
        args = row.get("args")
        if isinstance(args, dict) and isinstance(args.get(ARGS_KEY), dict):
            units[int(row["work_unit_id"])] = dict(args[ARGS_KEY])
    return units


def staging_root(remote_dir: str, experiment_id: int) -> str:
    """The staging root a job dir `<root>/experiments/<exp>/<wu>/<job>` lives under."""
    marker = f"/experiments/{experiment_id}/"
    return remote_dir[: remote_dir.rindex(marker)] if marker in remote_dir else remote_dir


def _latest_row(rows: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    return max(rows, key=lambda row: (int(row.get("attempt") or 1), int(row["id"])))


def _config(resolver: Any, config_path: str | None) -> Config:
    try:
        config: Config = resolver.config(config_path)
        return config
    except ConfigError:
        return Config()


def import_events(
    store: ExperimentStore,
    experiment_id: int,
    events: Sequence[Mapping[str, Any]],
    *,
    mirror_root: Path | None,
) -> int:
    """Records the journaled units and jobs the store lacks; returns how many jobs were new.

    `mirror_root` is the workstation's local mirror of the cluster's staging
    root (None for Local, where the job dirs are local already): a job's
    `local_dir` points there, as for jobs launched from the workstation.
    """
    known_units = {int(row["work_unit_id"]) for row in store.work_units(experiment_id)}
    known_jobs = {
        (
            int(row["work_unit_id"]),
            str(row["name"]),
            tuple(str(s.get("job_id")) for s in row["submitted"] or []),
        )
        for row in store.jobs(experiment_id)
    }
    added = 0
    for event in events:
        kind = event.get("event")
        work_unit_id = int(event.get("work_unit_id", 0) or 0)
        if kind == "unit" and work_unit_id not in known_units:
            args = event.get("args")
            store.add_work_unit(experiment_id, work_unit_id, args if isinstance(args, dict) else {})
            known_units.add(work_unit_id)
        elif kind == "job":
            record = journal.store_record(event["record"])
            key = (
                work_unit_id,
                str(record["name"]),
                tuple(str(s.get("job_id")) for s in record["submitted"]),
            )
            if key in known_jobs:
                continue
            if work_unit_id not in known_units:
                store.add_work_unit(experiment_id, work_unit_id, {})
                known_units.add(work_unit_id)
            if mirror_root is not None:
                job_rel = f"experiments/{experiment_id}/{work_unit_id}/{record['name']}"
                record["local_dir"] = str(mirror_root / job_rel)
            store.add_job(experiment_id, work_unit_id, record)
            known_jobs.add(key)
            added += 1
    return added


def outcome(events: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """How the latest controller run ended (state, error) per its journal; {} while it runs."""
    result: dict[str, Any] = {}
    for event in events:
        if event.get("event") == "start":
            result = {"attempt": event.get("attempt")}
        elif event.get("event") == "end":
            result = {**result, "state": event.get("state"), "error": event.get("error")}
    return result


def sync_experiment(store: ExperimentStore, record: Mapping[str, Any], resolver: Any = None) -> None:
    """Imports the journal of every controller of the experiment that may have news."""
    from lxm3.store.records import JobRecord
    from lxm3.xm_cluster.resolver import TargetResolver

    experiment_id = int(record["id"])
    units = controller_units(store, experiment_id)
    if not units:
        return
    resolver = resolver or TargetResolver()
    rows = store.jobs(experiment_id)
    for work_unit_id, info in units.items():
        own = [row for row in rows if int(row["work_unit_id"]) == work_unit_id]
        if not own:
            continue
        latest = JobRecord.from_row(_latest_row(own))
        if latest.final and info.get("synced_row") == latest.row_id:
            continue
        target = resolver.target(latest, record.get("config_path"))
        path = f"{journal.controller_dir(staging_root(latest.remote_dir, experiment_id), experiment_id)}/{journal.JOURNAL_NAME}"
        result = target.transport().run(["cat", path], check=False)
        events = journal.parse(result.stdout if result.returncode == 0 else "")
        mirror = None
        if not target.is_local:
            mirror = (
                targets.local_staging_root(_config(resolver, record.get("config_path")))
                / "remote"
                / target.name
            )
        import_events(store, experiment_id, events, mirror_root=mirror)
        info = {key: value for key, value in info.items() if key not in ("state", "error", "attempt")}
        info.update(outcome(events))
        if latest.final:
            # Its job had ended before this read: nothing can be added later.
            info["synced_row"] = latest.row_id
        store.add_work_unit(experiment_id, work_unit_id, {ARGS_KEY: info})


def sync_quietly(store: ExperimentStore, record: Mapping[str, Any], resolver: Any = None) -> None:
    """`sync_experiment`, but an unreachable cluster only logs (status must still show the rest)."""
    try:
        sync_experiment(store, record, resolver)
    except Exception as error:  # noqa: BLE001 - the store's view is shown without the news
        log.warning("experiment %s: cannot read its controller's journal: %s", record.get("id"), error)


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


def controller_notes(experiment: Any) -> list[str]:
    """One line per controller that ended badly, for `lxm3 status` (the error's first line)."""
    notes = []
    for work_unit_id, info in controller_units(experiment.store, experiment.experiment_id).items():
        if info.get("state") == "FAILED":
            notes.append(f"controller (work unit {work_unit_id}) failed: {info.get('error') or '?'}")
        elif info.get("state") == "CANCELLED":
            notes.append(f"controller (work unit {work_unit_id}) was cancelled")
    return notes


def rerun_scope(
    experiment: Any, work_unit_ids: Sequence[int] | None, states: Sequence[Any]
) -> Sequence[int] | None:
    """What `lxm3 rerun` resubmits when the experiment's controller ended in `states`.

    Only the controller: restarted, it replays its journal and runs again the
    units that did not complete itself. Rerunning those units from here as
    well would run them twice. An explicit `--wu` is obeyed as given.
    """
    if work_unit_ids is not None:
        return work_unit_ids
    units = controller_units(experiment.store, experiment.experiment_id)
    if not units:
        return None
    results = experiment.task_statuses(list(units))
    ended = [
        wu
        for wu, jobs in results.items()
        if any(status.state in states for _, statuses in jobs for status in statuses.values())
    ]
    return ended or None
