"""Where an `lxm3 launch` spends its wall time (lxm3 0.5 only; run with the project venv).

    python benchmarks/profile_launch.py OUT.json launcher.py [launcher flags...]

Runs `lxm3 launch` in this process with every `subprocess.run` (pip, ssh,
rsync, git: all of lxm3's external commands go through it) and a few lxm3
functions timed, then writes the phases as JSON: seconds per category plus
the raw events. `$LXM_BENCH_T0` (epoch seconds, set by the harness just
before it spawns this process) gives the interpreter start-up time.
Phases overlap only where lxm3 itself runs things in parallel; the ssh
commands are classified by the remote command they carry.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time

_T_FIRST_LINE = time.time()
_PERF0 = time.perf_counter()
EVENTS: list[dict] = []
_LOCK = threading.Lock()


def _record(kind: str, start: float, end: float, detail: str = "") -> None:
    with _LOCK:
        EVENTS.append(
            {
                "kind": kind,
                "start": round(start - _PERF0, 4),
                "seconds": round(end - start, 4),
                "detail": detail[:160],
            }
        )


def classify(argv: list[str]) -> str:
    """An external command's phase, from its argv."""
    text = " ".join(str(a) for a in argv)
    program = os.path.basename(str(argv[0])) if argv else ""
    if program.startswith("pip") or " -m pip " in f" {text} ":
        return "pip install (packaging)"
    if program == "git":
        return "git state"
    if program == "rsync":
        return "rsync upload"
    if program == "ssh":
        if "ControlMaster=yes" in text:
            return "ssh connect (master)"
        if " -O exit" in f" {text}":
            return "ssh close"
        remote = str(argv[-1])
        if "sbatch" in remote:
            return "ssh: sbatch (submit)"
        if "scontrol" in remote:
            return "ssh: scontrol show config (MaxArraySize)"
        if "mkdir -p" in remote:
            return "ssh: prepare remote (mkdir + which artifacts are missing)"
        if "$HOME" in remote:
            return "ssh: expand ~"
        if "sacct" in remote or "squeue" in remote:
            return "ssh: status query"
        return "ssh: other command"
    return f"other: {program}"


def _patch() -> None:
    import subprocess

    original_run = subprocess.run

    def timed_run(argv, *args, **kwargs):  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        try:
            return original_run(argv, *args, **kwargs)
        finally:
            listed = list(argv) if isinstance(argv, (list, tuple)) else [str(argv)]
            _record(classify(listed), start, time.perf_counter(), " ".join(map(str, listed))[-160:])

    subprocess.run = timed_run  # type: ignore[assignment]

    def wrap(module: object, name: str, kind: str) -> None:
        original = getattr(module, name)

        def timed(*args, **kwargs):  # type: ignore[no-untyped-def]
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                _record(kind, start, time.perf_counter())

        setattr(module, name, timed)

    from lxm3.packaging import python_package
    from lxm3.xm_cluster import batching, packaging, staging

    # Wrapped where they are looked up at call time (the modules that call them).
    wrap(packaging, "build_python_package", "fn: build_python_package (total)")
    wrap(python_package, "write_zip", "fn: write_zip (zip the package)")
    wrap(python_package, "fingerprint_tree", "fn: fingerprint_tree (source stat walk)")
    wrap(staging, "stage_job", "fn: stage_job (task table + scripts, incl. its ssh calls)")
    # The task table: written a block of lines at a time (write_task_lines) since branch scale16c.
    table_writer = "write_task_lines" if hasattr(staging, "write_task_lines") else "write_task_table"
    wrap(staging, table_writer, "fn: write_task_table")
    wrap(batching, "fast_deploy", "fn: fast_deploy (job files into the submit command)")
    for name, kind in (("deploy", "fn: deploy (total)"), ("submit", "fn: submit (total)")):
        if hasattr(batching, name):
            wrap(batching, name, kind)


def main() -> int:
    out_path = sys.argv[1]
    launcher_argv = sys.argv[2:]
    t0 = float(os.environ.get("LXM_BENCH_T0", _T_FIRST_LINE))
    warm_up_s = None
    if os.environ.get("LXM_BENCH_WARM") == "1":
        # As a warm server's child starts (lxm3/cli/warm): its imports and templates done before.
        started = time.perf_counter()
        from lxm3.cli.warm import server

        server.warm_up()
        warm_up_s = round(time.perf_counter() - started, 4)
    start = time.perf_counter()
    from lxm3.cli import main as cli_main
    from lxm3.xm_cluster import experiment  # noqa: F401 - what `launch` imports first

    imports = time.perf_counter() - start
    _patch()
    code = 1
    try:
        code = cli_main.main(["launch", *launcher_argv])
    finally:
        total = time.perf_counter() - (start if warm_up_s is not None else _PERF0)
        summary: dict[str, float] = {}
        for event in EVENTS:
            summary[event["kind"]] = round(summary.get(event["kind"], 0.0) + event["seconds"], 4)
        report = {
            "interpreter_startup_s": round(_T_FIRST_LINE - t0, 4),
            "imports_s (lxm3.cli + xm_cluster, absl, attrs, jinja2...)": round(imports, 4),
            "in_process_total_s": round(total, 4),
            "warm_server_warm_up_s (not part of the launch)": warm_up_s,
            "phases_s": dict(sorted(summary.items(), key=lambda item: -item[1])),
            "events": EVENTS,
            "exit_code": code,
        }
        with open(out_path, "w") as handle:
            json.dump(report, handle, indent=1)
    return code


if __name__ == "__main__":
    sys.exit(main())
