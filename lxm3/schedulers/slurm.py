"""Slurm: sbatch job arrays, one `sacct` per poll, one `scancel` per stop.

    render   `slurm.sh.j2`: `#SBATCH` directives from the executor, then the
             common job script; the array index (`SLURM_ARRAY_TASK_ID`) plus
             the chunk's offset is the task id
    submit   ONE remote command running `sbatch --parsable` on each script in
             order, stopping at the first refusal
    query    ONE `sacct -X -n -P -j id1,id2,...` for every watched array; if
             accounting is off (or sacct fails), `squeue -t all` and the
             runner's `<task>.exit` files, in the same remote command
    cancel   ONE `scancel id1 id2 ...`

sacct lags squeue by a few seconds (more for arrays): a task it does not list
yet, or lists as not final, is simply not final yet, and the watcher polls
again.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lxm3.files import atomic_write
from lxm3.schedulers.base import (
    JobScript,
    LazyTemplates,
    RenderRequest,
    Scheduler,
    SchedulerError,
    SubmittedJob,
    option_name,
)
from lxm3.schedulers.slurm_parsing import (
    _SECTION_MARK,
    CACHE_TTL_SECONDS,
    SACCT_FORMAT,
    SQUEUE_FORMAT,
    _error_lines,
    _escape_filename_pattern,
    _job_name,
    _log_dir,
    default_cache_dir,
    fallback_statuses,
    map_state,
    parse_exit_code,
    parse_exit_codes,
    parse_index_ranges,
    parse_max_array_size,
    parse_rows,
    parse_wait_status,
    sbatch_quote,
)
from lxm3.transport.base import Transport
from lxm3.xm.status import TaskStatus

#: Parsing helpers keep their 0.5 import path here.
__all__ = [
    "CACHE_TTL_SECONDS",
    "SACCT_FORMAT",
    "SQUEUE_FORMAT",
    "SlurmScheduler",
    "default_cache_dir",
    "fallback_statuses",
    "map_state",
    "parse_exit_code",
    "parse_exit_codes",
    "parse_index_ranges",
    "parse_max_array_size",
    "parse_rows",
    "parse_wait_status",
    "sbatch_quote",
]


class SlurmScheduler(Scheduler):
    """Slurm's dialect: sbatch arrays, sacct (or squeue) status, scancel."""

    name = "slurm"
    display_name = "Slurm"

    def __init__(
        self,
        *,
        cluster_name: str | None = None,
        template_dirs: Sequence[str | Path] = (),
        cache_dir: str | Path | None = None,
    ) -> None:
        self.cluster_name = cluster_name
        extra = [Path(d).expanduser() for d in template_dirs]
        from_env = os.environ.get("LXM3_TEMPLATE_DIR")
        if from_env:
            extra.extend(Path(d).expanduser() for d in from_env.split(os.pathsep) if d)
        self._templates = LazyTemplates(extra, {"dq": sbatch_quote})
        self._cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()

    # ----- render -----
    def directives(self, request: RenderRequest) -> tuple[list[tuple[str, str | None]], list[str]]:
        """`(option, value)` directives and raw extra lines for one chunk's script."""
        wanted = request.directives
        chunk = request.chunk
        is_array = chunk.count > 1 or request.num_tasks > 1 or request.index_map is not None
        log_directory = wanted.log_directory or request.log_dir
        output_name = "slurm-%A_%a.out" if is_array else "slurm-%j.out"
        derived: list[tuple[str, str | None]] = [
            ("job-name", _job_name(request.label)),
            ("output", f"{_escape_filename_pattern(log_directory.rstrip('/'))}/{output_name}"),
        ]
        if is_array:
            array = f"0-{chunk.array_size - 1}"
            if wanted.max_parallel and chunk.array_size > 1:
                array += f"%{wanted.max_parallel}"
            derived.append(("array", array))
        if request.dependency is not None:
            from lxm3.schedulers.dependency import slurm_dependency

            derived.append(("dependency", slurm_dependency(request.dependency, chunk)[0]))
            derived.append(("kill-on-invalid-dep", "yes"))
        derived.extend((str(name), value) for name, value, *_ in wanted.requirements)
        resources: dict[str, str | None] = dict(wanted.resources)
        directives = [(name, value) for name, value in derived if name not in resources]
        directives.extend(resources.items())
        skip = {option_name(name) for name in wanted.skip_directives}
        directives = [(name, value) for name, value in directives if name not in skip]
        raw = [
            line
            for line in wanted.extra_directives
            if option_name(line.split("=", 1)[0].split(" ", 1)[0]) not in skip
        ]
        return directives, raw

    def render(self, request: RenderRequest) -> str:
        directives, raw = self.directives(request)
        modules = [module.split() for module in request.directives.modules]
        template = self._templates.get_template("slurm.sh.j2")
        return template.render(
            **request.template_vars(), directives=directives, raw_directives=raw, modules=modules
        )

    # ----- submit -----
    def submit_argv(self, script: JobScript) -> list[str]:
        """The command that submits one script (what `--dry-run` shows)."""
        return ["sbatch", "--parsable", script.path]

    def parse_job_id(self, printed: str) -> str | None:
        """`sbatch --parsable` prints `ID` or `ID;cluster`."""
        job_id = printed.strip().split(";", 1)[0]
        return job_id if job_id.isdigit() else None

    def refusal_reason(self, stderr: str) -> str:
        return _error_lines(stderr)

    # ----- query -----
    def query_command(self, jobs: Sequence[SubmittedJob]) -> str:
        """ONE remote command: sacct; if that fails, squeue and the runner's exit files."""
        ids = ",".join(job.job_id for job in jobs)
        lines = [
            f"sacct -X -D -n -P -o {SACCT_FORMAT} -j {ids}",
            "rc=$?",
            'if [ "$rc" = 0 ]; then exit 0; fi',
            f"sq=$(squeue -h -t all -O {shlex.quote(SQUEUE_FORMAT)} -j {ids} 2>&1)",
            "sqrc=$?",
            f'printf "{_SECTION_MARK} squeue %s %s\\n" "$rc" "$sqrc"',
            'printf "%s\\n" "$sq"',
        ]
        for number, log_dir in enumerate(sorted({_log_dir(job) for job in jobs})):
            lines.append(
                f'printf "{_SECTION_MARK} exit-files {number}\\n"; '
                f"grep -r --include='*.exit' '' {shlex.quote(log_dir)} 2>/dev/null | sed 's|^.*/||'"
            )
        return "\n".join(lines)

    def query(self, transport: Transport, jobs: Sequence[SubmittedJob]) -> dict[str, dict[int, TaskStatus]]:
        if not jobs:
            return {}
        result = transport.run_script(self.query_command(jobs), check=False)
        return self.parse_query_output(result.stdout, result.stderr, result.returncode, jobs)

    def parse_query_output(
        self, stdout: str, stderr: str, returncode: int, jobs: Sequence[SubmittedJob]
    ) -> dict[str, dict[int, TaskStatus]]:
        """Splits the query command's output into its sections and parses each."""
        sections: list[tuple[str, list[str]]] = [("sacct", [])]
        for line in stdout.splitlines():
            if line.startswith(_SECTION_MARK + " "):
                sections.append((line[len(_SECTION_MARK) + 1 :], []))
            else:
                sections[-1][1].append(line)
        if len(sections) == 1:
            if returncode != 0:
                raise SchedulerError(f"sacct failed: {stderr.strip() or f'exit code {returncode}'}")
            return parse_rows(sections[0][1], jobs)
        header, squeue_lines = sections[1]
        squeue_rc = header.split()[-1]
        if squeue_rc != "0" and not any("Invalid job id" in line for line in squeue_lines):
            detail = (
                "; ".join(line.strip() for line in squeue_lines if line.strip()) or f"exit code {squeue_rc}"
            )
            raise SchedulerError(f"sacct failed ({stderr.strip()}) and squeue failed too: {detail}")
        rows = parse_rows(squeue_lines, jobs, wait_status=True)
        log_dirs = sorted({_log_dir(job) for job in jobs})
        codes: dict[str, dict[int, int]] = {}
        for title, lines in sections[2:]:
            kind, _, number = title.partition(" ")
            if kind == "exit-files" and number.isdigit() and int(number) < len(log_dirs):
                codes[log_dirs[int(number)]] = parse_exit_codes(lines)
        return {
            job.job_id: fallback_statuses(
                job, rows.get(job.job_id, {}), bool(rows.get(job.job_id)), codes.get(_log_dir(job), {})
            )
            for job in jobs
        }

    # ----- cancel -----
    def cancel(self, transport: Transport, job_ids: Sequence[str]) -> None:
        if not job_ids:
            return
        result = transport.run(["scancel", *job_ids], check=False)
        if result.returncode != 0:
            raise SchedulerError(f"scancel {' '.join(job_ids)} failed: {result.stderr.strip()}")

    # ----- limits -----
    def _cache_path(self) -> Path | None:
        if not self.cluster_name:
            return None
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", self.cluster_name)
        return self._cache_dir / f"{safe}.json"

    def _read_cache(self) -> dict[str, Any]:
        path = self._cache_path()
        if path is None:
            return {}
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _write_cache(self, data: dict[str, Any]) -> None:
        path = self._cache_path()
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, json.dumps(data, sort_keys=True))
        except OSError:
            pass  # a cache, not a requirement

    #: Slurm's own default MaxArraySize.
    default_max_array_size = 1001

    def known_max_array_size(self, transport: Transport) -> int | None:
        """The cached `MaxArraySize` for this host, if fresh; no remote command."""
        entry = self._read_cache().get("max_array_size")
        if (
            isinstance(entry, dict)
            and entry.get("host") == transport.label
            and isinstance(entry.get("value"), int)
            and time.time() - float(entry.get("time", 0)) < CACHE_TTL_SECONDS
        ):
            return int(entry["value"])
        return None

    array_limit_refusals = ("Invalid job array specification",)

    def forget_max_array_size(self) -> None:
        cached = self._read_cache()
        if cached.pop("max_array_size", None) is not None:
            self._write_cache(cached)

    def max_array_size(self, transport: Transport) -> int:
        """`MaxArraySize` (indices run 0..MaxArraySize-1, so that many tasks per array)."""
        known = self.known_max_array_size(transport)
        if known is not None:
            return known
        cached = self._read_cache()
        result = transport.run(["scontrol", "show", "config"], check=False)
        if result.returncode != 0:
            raise SchedulerError(f"scontrol show config failed on {transport.label}: {result.stderr.strip()}")
        value = parse_max_array_size(result.stdout)
        cached["max_array_size"] = {"value": value, "host": transport.label, "time": time.time()}
        self._write_cache(cached)
        return value
