"""Workstation side: learn what a controller did from its journal; stop it before a cancel.

`sync_experiments` reads the journal of each controller unit of some
experiments (riding on the status query of the controller's cluster: one
command per cluster for journals and status alike) and records, in the store, every
unit and job the controller added that the store lacks, with the controller
process as the owner of Local jobs. The controller unit's args keep how it
ended (state, the error's first line) and, once its job has ended and the
journal was read after that, a mark that makes later reads skip it.

Stopping controllers (the first step of `lxm3 cancel`) is in `stop.py`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from lxm3.config import Config, ConfigError
from lxm3.store.controller_rows import journal_may_have_news, latest_row
from lxm3.store.db import ExperimentStore
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


@attrs.define
class SyncReport:
    """What a sync did: when the status query its journal reads rode on ran."""

    #: `time.monotonic()` of the last such query (None: no cluster was asked).
    asked_at: float | None = None

    def reuse_age(self, slack: float = 1.0) -> float:
        """A `max_age` under which the status read that follows reuses that query."""
        return 0.0 if self.asked_at is None else time.monotonic() - self.asked_at + slack


@attrs.define
class _Read:
    """One controller unit whose journal is to be read."""

    record: Mapping[str, Any]
    work_unit_id: int
    info: dict[str, Any]
    latest: Any  # JobRecord
    target: Any  # targets.Target
    path: str


def _pending_reads(store: ExperimentStore, record: Mapping[str, Any], resolver: Any) -> list[_Read]:
    from lxm3.store.records import JobRecord

    experiment_id = int(record["id"])
    units = controller_units(store, experiment_id)
    if not units:
        return []
    rows = store.jobs(experiment_id)
    reads = []
    for work_unit_id, info in units.items():
        own = [row for row in rows if int(row["work_unit_id"]) == work_unit_id]
        if not journal_may_have_news(own, info):
            continue
        latest = JobRecord.from_row(latest_row(own))
        target = resolver.target(latest, record.get("config_path"))
        directory = journal.controller_dir(staging_root(latest.remote_dir, experiment_id), experiment_id)
        reads.append(_Read(record, work_unit_id, info, latest, target, f"{directory}/{journal.JOURNAL_NAME}"))
    return reads


def _unfinished_on(
    store: ExperimentStore, record: Mapping[str, Any], resolver: Any, target: Any
) -> list[Any]:
    """The experiment's unfinished jobs on `target`, as the status watcher watches them."""
    from lxm3.store.records import JobRecord

    watched = []
    for row in store.jobs(int(record["id"])):
        attempt = JobRecord.from_row(row)
        if attempt.final or attempt.is_local or attempt.target_name != target.name:
            continue
        try:
            if resolver.target(attempt, record.get("config_path")) is target:
                watched.extend(attempt.watched())
        except Exception:  # noqa: BLE001 - the status read reports it; the journal is read anyway
            continue
    return watched


def _apply(store: ExperimentStore, read: _Read, text: str | None, resolver: Any) -> None:
    experiment_id = int(read.record["id"])
    events = journal.parse(text or "")
    mirror = None
    if not read.target.is_local:
        mirror = (
            targets.local_staging_root(_config(resolver, read.record.get("config_path")))
            / "remote"
            / read.target.name
        )
    import_events(store, experiment_id, events, mirror_root=mirror)
    info = {key: value for key, value in read.info.items() if key not in ("state", "error", "attempt")}
    info.update(outcome(events))
    if read.latest.final:
        # Its job had ended before this read: nothing can be added later.
        info["synced_row"] = read.latest.row_id
    store.add_work_unit(experiment_id, read.work_unit_id, {ARGS_KEY: info})


def sync_experiments(
    store: ExperimentStore, records: Sequence[Mapping[str, Any]], resolver: Any = None
) -> SyncReport:
    """Imports the journal of every controller of these experiments that may have news.

    Per cluster, ONE command reads every journal there AND asks the scheduler
    about the experiments' unfinished jobs (the reads ride on the status
    query, see `StatusWatcher.refresh_reading`); a status read right after
    may reuse that query (`SyncReport.reuse_age`). Local journals are read
    as files. A cluster that cannot be asked raises, after the others were read.
    """
    from lxm3.xm_cluster.resolver import TargetResolver

    resolver = resolver or TargetResolver()
    report = SyncReport()
    by_target: dict[int, list[_Read]] = {}
    for record in records:
        for read in _pending_reads(store, record, resolver):
            by_target.setdefault(id(read.target), []).append(read)
    failures = []
    for reads in by_target.values():
        target = reads[0].target
        paths = [read.path for read in reads]
        if target.is_local:
            texts = {path: _read_local(path) for path in paths}
        else:
            experiments = {int(read.record["id"]): read.record for read in reads}
            for record in experiments.values():
                target.watcher.watch(_unfinished_on(store, record, resolver, target))
            try:
                texts = target.watcher.refresh_reading(paths, strict=True)
            except Exception as error:  # noqa: BLE001 - the other clusters' journals are still read
                failures.append(f"{target.name}: {error}")
                continue
            report.asked_at = time.monotonic()
        for read in reads:
            _apply(store, read, texts.get(read.path), resolver)
    if failures:
        raise RuntimeError("; ".join(failures))
    return report


def _read_local(path: str) -> str | None:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def sync_experiment(store: ExperimentStore, record: Mapping[str, Any], resolver: Any = None) -> SyncReport:
    """`sync_experiments` of one experiment."""
    return sync_experiments(store, [record], resolver)


def sync_quietly(
    store: ExperimentStore, records: Mapping[str, Any] | Sequence[Mapping[str, Any]], resolver: Any = None
) -> SyncReport:
    """`sync_experiments`, but an unreachable cluster only logs (status must still show the rest)."""
    many = [records] if isinstance(records, Mapping) else list(records)
    try:
        return sync_experiments(store, many, resolver)
    except Exception as error:  # noqa: BLE001 - the store's view is shown without the news
        ids = ", ".join(str(record.get("id")) for record in many)
        log.warning("experiment %s: cannot read its controller's journal: %s", ids, error)
        return SyncReport()


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
