"""`lxm3 clean [--older-than DAYS] [--outputs] [--yes]`: remove staged files no kept experiment needs.

lxm3 0.4's flags work too: `--days` (= --older-than), `--force` (= --yes),
`--dry_run` (show only, the default), `--project P` (only P's experiments),
`--type job,archive,container` (only those kinds of files). Unlike 0.4,
without `--force` nothing is removed and nothing is asked: clean never waits
on a prompt.

An experiment is KEPT while it is younger than `--older-than` days (default
30, counted from its last launch or rerun), or while any of its tasks has not
ended (or its cluster cannot be asked). Everything else may go, in every
staging root the store knows of (this machine's, the local mirrors of
clusters, and the clusters' own):

    experiments/<id>/       of experiments that are not kept, and of ids the
                            store does not hold once the folder is that old
    artifacts/*, runtime/*  content-addressed files no kept experiment uses,
                            once that old (never while a launch is running)

Task outputs (`experiments/<id>/<wu>/<job>/outputs/`: after-files, metrics)
are results, not staging: they stay unless `--outputs` is given; the rest of
such an experiment's folder goes.

Without `--yes` it only shows what it would remove. Nothing outside those
three folders of a staging root is ever touched. The store keeps the
experiments' records (marked as cleaned), so `lxm3 list` still shows them.
"""

from __future__ import annotations

import argparse
import posixpath
import re
import time
from collections.abc import Iterable, Sequence
from typing import Any

import attrs

from lxm3.cli.common import add_config_arg, run_reporting

DEFAULT_DAYS = 30.0
_FOLDERS = ("experiments", "artifacts", "runtime")
#: lxm3 0.4's `--type` kinds: a job's files, code archives (and runners), container images.
_TYPES = ("job", "archive", "container")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
_LIST_SCRIPT = (
    'cd "$1" 2>/dev/null || exit 0; head -n1 .lxm3-owner 2>/dev/null | sed "s/^/@@owner /"; '
    'for o in experiments/*/.lxm3-owner; do [ -f "$o" ] && printf "@@claim %s %s\\n" "${o%/.lxm3-owner}" "$(head -c 64 "$o")"; done; '
    "for d in experiments artifacts runtime; do "
    '[ -d "$d" ] && find "$d" -mindepth 1 -maxdepth 1 -print; done; echo "@@old"; '
    'for d in experiments artifacts runtime; do [ -d "$d" ] && find "$d" -mindepth 1 -maxdepth 1 -mmin +"$2" -print; done; '
    # Experiment folders holding more than task outputs (what cleaning while keeping outputs removes).
    'echo "@@more"; for e in experiments/*/; do [ -d "$e" ] || continue; '
    '[ -n "$(find "$e" -mindepth 3 -maxdepth 3 ! -name outputs -print -quit; '
    'find "$e" -mindepth 1 -maxdepth 2 ! -type d ! -name .lxm3-owner -print -quit; '
    'find "$e" -type d -empty -print -quit)" ] && echo "${e%/}"; done; true'
)
_REMOVE_SCRIPT = 'cd "$1" && xargs -0 rm -rf --'
#: Removes entries but keeps `experiments/<id>/<wu>/<job>/outputs` (and the folder's owner claim);
#: empty folders go (a task that left no outputs keeps nothing).
_REMOVE_KEEPING_OUTPUTS_SCRIPT = (
    'cd "$1" || exit 1; while IFS= read -r -d "" rel; do case "$rel" in '
    'experiments/*) find "$rel" -mindepth 3 -maxdepth 3 ! -name outputs -exec rm -rf -- {} + ; '
    'find "$rel" -mindepth 1 -maxdepth 2 ! -type d ! -name .lxm3-owner -exec rm -f -- {} + ; '
    'find "$rel" -mindepth 1 -type d -empty -delete; '
    '[ -n "$(find "$rel" -mindepth 1 ! -name .lxm3-owner -print -quit)" ] || rm -rf -- "$rel" ;; '
    '*) rm -rf -- "$rel" ;; esac; done'
)


def add_parser(parser: argparse.ArgumentParser) -> None:
    add_config_arg(parser)
    parser.add_argument(
        "--older-than",
        type=float,
        default=DEFAULT_DAYS,
        metavar="DAYS",
        help=f"keep experiments launched or rerun within DAYS days (default {DEFAULT_DAYS:g})",
    )
    parser.add_argument(
        "--outputs",
        action="store_true",
        help="also remove task outputs (after-files, metrics); kept by default",
    )
    parser.add_argument(
        "--yes", action="store_true", help="remove; without it, only show what would be removed"
    )
    # lxm3 0.4's flags, so its users' habits and scripts keep working.
    legacy = parser.add_argument_group("lxm3 0.4 flags")
    legacy.add_argument(
        "--days", dest="older_than", type=float, default=argparse.SUPPRESS, help="same as --older-than"
    )
    legacy.add_argument(
        "--force", dest="yes", action="store_true", default=argparse.SUPPRESS, help="same as --yes"
    )
    legacy.add_argument(
        "--dry_run", action="store_true", help="only show what would be removed (the default)"
    )
    legacy.add_argument("--project", help="only remove the experiments of this project")
    legacy.add_argument(
        "--type",
        metavar="TYPES",
        help=f"comma-separated kinds to remove: {', '.join(_TYPES)} (default: all)",
    )


def run(namespace: argparse.Namespace) -> int:
    return run_reporting(lambda: _run(namespace))


@attrs.define
class Place:
    """A staging root on one host, reached through a transport."""

    label: str
    root: str
    transport: Any
    entries: set[str] = attrs.field(factory=set)
    old: set[str] = attrs.field(factory=set)
    #: Experiment folders holding more than task outputs.
    more: set[str] = attrs.field(factory=set)
    #: The root's owner line, and experiment dir -> the store identity that claimed it.
    owner: str | None = None
    claims: dict[str, str] = attrs.field(factory=dict)

    def belongs_to(self, identity: str) -> bool:
        return self.owner is None or self.owner.split(" ", 1)[0] == identity

    def claimed_by_other(self, rel: str, identity: str) -> bool:
        return rel in self.claims and self.claims[rel] != identity

    def scan(self, minutes: int) -> None:
        """Lists the three folders' entries, which are older than `minutes`, and which experiment
        folders hold more than outputs, in one command."""
        result = self.transport.run(["bash", "-c", _LIST_SCRIPT, "lxm3-clean", self.root, str(minutes)])
        seen, _, rest = result.stdout.partition("@@old\n")
        old, _, more = rest.partition("@@more\n")
        for line in seen.splitlines():
            if line.startswith("@@owner "):
                self.owner = line[len("@@owner ") :].strip()
            elif line.startswith("@@claim "):
                rel, _, identity = line[len("@@claim ") :].partition(" ")
                self.claims[rel] = identity.strip()
        self.entries = {line.strip() for line in seen.splitlines() if _safe_relative(line.strip())}
        self.old = {line.strip() for line in old.splitlines() if _safe_relative(line.strip())}
        self.more = {line.strip() for line in more.splitlines() if _safe_relative(line.strip())}

    def remove(self, relatives: Sequence[str], *, keep_outputs: bool = True) -> None:
        """Removes entries (relative to the root) in one command, keeping task outputs unless told."""
        checked = [rel for rel in relatives if _safe_relative(rel)]
        if checked:
            script = _REMOVE_KEEPING_OUTPUTS_SCRIPT if keep_outputs else _REMOVE_SCRIPT
            self.transport.run(
                ["bash", "-c", script, "lxm3-clean", self.root], input="\0".join(checked) + "\0"
            )


def _safe_relative(rel: str) -> bool:
    """Only `experiments/<id>`, `artifacts/<name>`, `runtime/<name>`: nothing else is ever removed."""
    folder, _, name = rel.partition("/")
    if folder not in _FOLDERS or not _NAME.match(name) or name in (".", ".."):
        return False
    return name.isdigit() if folder == "experiments" else True


def _safe_root(root: str) -> bool:
    normal = posixpath.normpath(root)
    return root.startswith("/") and normal not in ("/", "/root", "/home", "/tmp") and normal.count("/") >= 2


def _staging_root(path: str, experiment_id: int) -> str | None:
    """`<root>/experiments/<id>/<wu>/<job>` -> `<root>`."""
    marker = f"/experiments/{experiment_id}/"
    position = path.rfind(marker)
    return path[:position] if position > 0 else None


def _places(
    records: Iterable[dict[str, Any]], jobs: dict[int, list[Any]], config: Any
) -> tuple[list[Place], list[str]]:
    import os

    from lxm3.transport.local import LocalTransport
    from lxm3.xm_cluster.resolver import TargetResolver

    local = LocalTransport()
    places: dict[tuple[str, str], Place] = {}
    errors: list[str] = []
    local_root = os.path.abspath(os.path.expanduser(config.local_staging))
    places[("local", local_root)] = Place("local", local_root, local)
    mirrors = os.path.join(local_root, "remote")
    if os.path.isdir(mirrors):
        for name in sorted(os.listdir(mirrors)):
            root = os.path.join(mirrors, name)
            places[("local", root)] = Place(f"local mirror of {name}", root, local)
    resolver = TargetResolver()
    config_paths = {int(r["id"]): r.get("config_path") for r in records}
    remote_targets: dict[tuple[str, str], tuple[Any, str | None]] = {}
    for experiment_id, experiment_jobs in jobs.items():
        for job in experiment_jobs:
            for attempt in job.attempts:
                local_dir = attempt.local_dir
                mirror = _staging_root(local_dir, experiment_id) if local_dir else None
                if mirror and ("local", mirror) not in places:
                    places[("local", mirror)] = Place("local", mirror, local)
                if attempt.is_local:
                    continue
                remote_root = _staging_root(attempt.remote_dir, experiment_id)
                if remote_root:
                    remote_targets.setdefault(
                        (attempt.target_name, remote_root), (attempt, config_paths.get(experiment_id))
                    )
    for (name, root), (attempt, config_path) in sorted(remote_targets.items(), key=lambda item: item[0]):
        try:
            target = resolver.target(attempt, config_path)
        except Exception as error:  # noqa: BLE001 - one unreachable cluster must not stop the others
            errors.append(f"{name}: {error}")
            continue
        places[(name, root)] = Place(name, root, target.transport())
    return list(places.values()), errors


def _run(namespace: argparse.Namespace) -> int:
    from lxm3.cli.common import console, open_store
    from lxm3.cli.errors import fail
    from lxm3.config import load_config
    from lxm3.schedulers.local_process import process_alive
    from lxm3.xm_cluster import staging
    from lxm3.xm_cluster.status_reader import StatusReader
    from lxm3.xm_cluster.stored_jobs import group_jobs

    if namespace.older_than < 0:
        return fail("--older-than must be 0 or more days", 2)
    types = set(_TYPES)
    if getattr(namespace, "type", None):
        types = {kind.strip() for kind in namespace.type.split(",") if kind.strip()}
        unknown = sorted(types - set(_TYPES))
        if unknown:
            return fail(f"--type {','.join(unknown)} is not a kind; valid: {', '.join(_TYPES)}", 2)
    if getattr(namespace, "dry_run", False):
        namespace.yes = False
    store = open_store(namespace)
    config = load_config()
    now = time.time()
    cutoff = now - namespace.older_than * 86400
    records = store.experiments(limit=None)
    rows = store.jobs_of([int(r["id"]) for r in records])
    jobs = {int(r["id"]): group_jobs(int(r["id"]), rows[int(r["id"])]) for r in records}

    last_activity = {
        int(r["id"]): max([r["created"], *(row["created"] for row in rows[int(r["id"])])]) for r in records
    }
    old_ids = [i for i, when in last_activity.items() if when < cutoff]
    reader = StatusReader(store)
    states = reader.read(
        [job for i in old_ids for job in jobs[i]],
        {int(r["id"]): r.get("config_path") for r in records},
        tolerate_errors=True,
    )
    unfinished = {
        i
        for i in old_ids
        for job in jobs[i]
        if any(not s.state.is_terminal for s in states[(i, job.work_unit_id, job.name)].values())
    }
    removable = set(old_ids) - unfinished
    project = getattr(namespace, "project", None)
    if project is not None:
        known = sorted({str(r.get("project")) for r in records if r.get("project")})
        if project not in known:
            return fail(
                f"no experiment of project {project!r} in the store; projects: {', '.join(known) or 'none'}",
                2,
            )
        removable = {
            i for i in removable if any(int(r["id"]) == i and r.get("project") == project for r in records)
        }
    kept = set(last_activity) - removable
    in_store = set(last_activity)
    needed = {name for i in kept for job in jobs[i] for a in job.attempts for name in a.artifacts}
    needed.add(staging.runner_name())
    launching_now = any(
        process_alive(r.get("pid"), r.get("host"), r.get("pid_start")) and r["created"] > now - 86400
        for r in records
    )

    places, errors = _places(records, jobs, config)
    errors = [*reader.errors, *errors]
    minutes = max(0, int(namespace.older_than * 24 * 60))
    plan: list[tuple[Place, str, str]] = []
    for place in places:
        if not _safe_root(place.root):
            errors.append(f"{place.label}: refusing to clean {place.root!r} (not a plausible staging root)")
            continue
        try:
            place.scan(minutes)
        except Exception as error:  # noqa: BLE001 - reported, the other places still get cleaned
            errors.append(f"{place.label}: {error}")
            continue
        if not place.belongs_to(store.identity):
            console().print(
                f"{place.label}: {place.root} belongs to another lxm3 store ({place.owner}); not touched",
                markup=False,
            )
            continue
        for rel in sorted(place.entries, key=_sort_key):
            folder, _, name = rel.partition("/")
            if _kind(rel) not in types:
                continue
            if folder == "experiments":
                if place.claimed_by_other(rel, store.identity):
                    continue  # another store's experiment with the same id
                experiment_id = int(name)
                if not namespace.outputs and rel not in place.more:
                    continue  # nothing but task outputs left, and those stay
                if experiment_id in removable:
                    age = (now - last_activity[experiment_id]) / 86400
                    plan.append(
                        (place, rel, f"experiment {experiment_id}, ended, last launched {age:.0f} day(s) ago")
                    )
                elif experiment_id not in in_store and rel in place.old and project is None:
                    plan.append((place, rel, "not in the store"))
            elif rel not in needed and rel in place.old and not launching_now:
                plan.append((place, rel, "used by no kept experiment"))

    out = console()
    if unfinished:
        out.print(
            f"keeping {len(unfinished)} old experiment(s) with unfinished tasks: {', '.join(map(str, sorted(unfinished)))}"
        )
    if launching_now:
        out.print("a launch is running: keeping every artifact and runner this time")
    if not plan:
        out.print("nothing to remove")
    else:
        for place, rel, why in plan:
            # Plain lines (no table): paths are never cut, and they can be copied.
            print(f"{place.label}: {place.root}/{rel}  ({why})")
        if namespace.yes:
            by_place: dict[int, tuple[Place, list[str]]] = {}
            for place, rel, _ in plan:
                by_place.setdefault(id(place), (place, []))[1].append(rel)
            for place, rels in by_place.values():
                try:
                    place.remove(rels, keep_outputs=not namespace.outputs)
                except Exception as error:  # noqa: BLE001 - reported, the other places still get cleaned
                    errors.append(f"{place.label}: {error}")
            cleaned = {
                int(rel.split("/")[1]) for _, rel, _ in plan if rel.startswith("experiments/")
            } & removable
            store.mark_cleaned(sorted(cleaned))
            note = "" if namespace.outputs else " (task outputs kept; --outputs removes them too)"
            out.print(f"removed {len(plan)} item(s){note}")
        else:
            out.print(f"would remove {len(plan)} item(s); run again with --yes to remove them")
    for message in errors:
        fail(f"cannot clean {message}")
    return 1 if errors else 0


def _kind(rel: str) -> str:
    """lxm3 0.4's `--type` of a staged entry: job, archive or container."""
    folder, _, name = rel.partition("/")
    if folder == "experiments":
        return "job"
    return "container" if name.endswith(".sif") else "archive"


def _sort_key(rel: str) -> tuple[str, int, str]:
    folder, _, name = rel.partition("/")
    return (folder, int(name) if name.isdigit() else 0, name)
