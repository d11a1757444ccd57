"""How many array tasks a user may still submit to a cluster (per-user and global job limits).

Many clusters cap the jobs a user may have queued, and on Slurm every array
task counts as one job. A sweep over that cap cannot be submitted at all, so
lxm3 packs it (see `lxm3.schedulers.packing`) into as many array tasks as the
cap leaves room for. Sources:

    Slurm        `MaxSubmitJobs`/`GrpSubmitJobs` of the user's associations (scontrol show
                 assoc_mgr, else sacctmgr), `MaxJobCount`
                 (scontrol show config), minus the array tasks the user (resp. everyone)
                 already has
    Grid Engine  `max_u_jobs` and `max_jobs` of the global configuration (qconf -sconf),
                 minus the user's jobs; each job is one array of up to `max_aj_tasks`
    any          `[[clusters]] max_jobs = N` in the lxm3 config: a site's policy that the
                 scheduler does not report

The static limits are cached per cluster for an hour; usage is asked only
when a sweep is big enough for the limits to matter (more than half of the
smallest), so ordinary launches pay no extra command.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

import attrs

from lxm3.transport.base import Transport

CACHE_TTL_SECONDS = 3600
_MARK = "@@lxm3-limits"


@attrs.frozen
class Capacity:
    """Room left for array tasks, and the limit that decided it (for the one-line notice)."""

    array_tasks: int
    reason: str


def _cache_path(cluster: str) -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", cluster)
    return Path(base) / "lxm3" / "clusters" / f"{safe}-limits.json"


def _cached(cluster: str, host: str) -> dict[str, Any] | None:
    try:
        data = json.loads(_cache_path(cluster).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("host") != host:
        return None
    if time.time() - float(data.get("time", 0)) > CACHE_TTL_SECONDS:
        return None
    return data


def cached_static(cluster: str, host: str) -> dict[str, Any] | None:
    """The static limits cached for `cluster` on `host`, if fresh (None: the next capacity check asks)."""
    return _cached(cluster, host)


def _store(cluster: str, data: dict[str, Any]) -> None:
    path = _cache_path(cluster)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".tmp{os.getpid()}")
        temporary.write_text(json.dumps(data, sort_keys=True))
        os.replace(temporary, path)
    except OSError:
        pass  # a cache, not a requirement


def forget(cluster: str) -> None:
    """Drops the cached limits (after a refusal that names a limit, say)."""
    _cache_path(cluster).unlink(missing_ok=True)


def _number(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdigit() else None


# ----------------------------------------------------------------------------- Slurm

#: slurmctld's own view of the user's associations (fast: no slurmdbd round trip), with
#: sacctmgr as the fallback where `scontrol show assoc_mgr` is not allowed (PrivateData).
SLURM_STATIC = (
    "scontrol show config | grep -E '^(MaxJobCount|MaxArraySize) '; "
    f"echo {_MARK}; "
    'if assoc="$(scontrol show assoc_mgr users="$(id -un)" flags=assoc 2>/dev/null)"; then '
    "printf '%s\\n' \"$assoc\" | grep -oE '(Max|Grp)SubmitJobs=[0-9]+'; else "
    f"echo {_MARK} sacctmgr; "
    'sacctmgr -n -P show assoc where user="$(id -un)" format=MaxSubmit,GrpSubmit 2>/dev/null; fi; true'
)
SLURM_USAGE = (
    'squeue -h -r -u "$(id -un)" -t PD,R,CG,S,CF -o %i 2>/dev/null | wc -l; '
    "squeue -h -r -t all -o %i 2>/dev/null | wc -l"
)


def parse_slurm_static(text: str) -> dict[str, int | None]:
    """`MaxJobCount` and the smallest association MaxSubmitJobs/GrpSubmitJobs (None: no such limit).

    The association part is `MaxSubmitJobs=40` words (scontrol show assoc_mgr)
    or, after a second mark, sacctmgr's `40|` lines.
    """
    head, _, assoc = text.partition(_MARK)
    found = re.search(r"^MaxJobCount\s*=\s*(\d+)", head, re.M)
    submit = [int(value) for value in re.findall(r"SubmitJobs=(\d+)", assoc)]
    if f"{_MARK} sacctmgr" in text:
        sacctmgr = text.partition(f"{_MARK} sacctmgr")[2]
        submit += [
            value
            for line in sacctmgr.splitlines()
            for value in (_number(part) for part in line.split("|"))
            if value is not None
        ]
    return {
        "max_job_count": int(found[1]) if found else None,
        "max_submit_jobs": min(submit) if submit else None,
    }


def slurm_capacity(
    transport: Transport, cluster: str, wanted: int, policy: int | None = None, *, offline: bool = False
) -> Capacity | None:
    """Array tasks the user may still submit to Slurm; None when `wanted` is nowhere near a limit.

    `offline` (a dry run): only cached limits, and no jobs assumed in use.
    """
    static = _cached(cluster, transport.label) or ({} if offline else None)
    if static is None:
        result = transport.run(["bash", "-c", SLURM_STATIC], check=False)
        static = {**parse_slurm_static(result.stdout), "host": transport.label, "time": time.time()}
        _store(cluster, static)
    user_limit = min([v for v in (static.get("max_submit_jobs"), policy) if isinstance(v, int)], default=None)
    global_limit = static.get("max_job_count")
    smallest = min([v for v in (user_limit, global_limit) if isinstance(v, int)], default=None)
    if smallest is None or wanted <= smallest // 2:
        return None
    counts = [] if offline else transport.run(["bash", "-c", SLURM_USAGE], check=False).stdout.split()
    mine = _number(counts[0]) if counts else 0
    everyone = _number(counts[1]) if len(counts) > 1 else 0
    options = []
    if user_limit is not None:
        options.append(
            Capacity(
                max(0, user_limit - (mine or 0)),
                f"you may have {user_limit} jobs queued (MaxSubmitJobs) and have {mine or 0}",
            )
        )
    if isinstance(global_limit, int):
        # Leave a tenth of the controller's table to others.
        room = int(global_limit * 0.9) - (everyone or 0)
        options.append(
            Capacity(max(0, room), f"Slurm holds at most {global_limit} jobs (MaxJobCount), {everyone} now")
        )
    return min(options, key=lambda c: c.array_tasks) if options else None


# ----------------------------------------------------------------------------- Grid Engine

#: The user's jobs (an array with running tasks has a line per task: count job ids once).
SGE_USAGE = "qstat -u \"$(id -un)\" 2>/dev/null | tail -n +3 | awk '{print $1}' | sort -u | wc -l"


def parse_sge_static(text: str) -> dict[str, int | None]:
    """`max_u_jobs` and `max_jobs` of `qconf -sconf` (0 means unlimited: None)."""
    values: dict[str, int | None] = {}
    for key in ("max_u_jobs", "max_jobs"):
        found = re.search(rf"^{key}\s+(\d+)", text, re.M)
        number = int(found[1]) if found else 0
        values[key] = number or None
    return values


def sge_capacity(
    transport: Transport,
    cluster: str,
    wanted_jobs: int,
    max_aj_tasks: int,
    policy: int | None = None,
    *,
    offline: bool = False,
) -> Capacity | None:
    """Array tasks the user may still submit to Grid Engine (jobs left x `max_aj_tasks`)."""
    static = _cached(cluster, transport.label) or ({} if offline else None)
    if static is None:
        result = transport.run(["qconf", "-sconf"], check=False)
        static = {**parse_sge_static(result.stdout), "host": transport.label, "time": time.time()}
        _store(cluster, static)
    limits = [v for v in (static.get("max_u_jobs"), static.get("max_jobs"), policy) if isinstance(v, int)]
    if not limits or wanted_jobs <= min(limits) // 2:
        return None
    mine = 0 if offline else _number(transport.run(["bash", "-c", SGE_USAGE], check=False).stdout) or 0
    jobs_left = max(0, min(limits) - mine)
    return Capacity(
        jobs_left * max_aj_tasks,
        f"you may have {min(limits)} jobs queued (max_u_jobs) and have {mine}, each an array of up to {max_aj_tasks} tasks",
    )
