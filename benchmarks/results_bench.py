"""Results of a 10,000-task sweep back to the workstation: `lxm3 metrics` and `lxm3 fetch`
against a bare `ssh host cat` / `rsync` of the same files, in the same run.

    python benchmarks/results_bench.py [--tasks 10000] [--lines 20] [--runs 3]

Needs the testbed's sshd (`tests/testbed/up.sh`; `. tests/testbed/env.sh`). It
lays out a finished sweep on the cluster exactly as tasks leave it
(`<staging>/experiments/<exp>/1/bench/outputs/<task>/` holding `metrics.jsonl`
with --lines JSON lines, `model.ckpt` of 1 KiB and `eval/score.json`), with
ONE remote python3 command, and records it in a throwaway store as a Slurm
job of `testcluster` (no job is run: the shared Slurm is left alone). Then,
each as its own process, as a user runs them:

    lxm3 metrics EXP --json       vs  ssh testcluster 'cat .../outputs/*/metrics.jsonl'
    lxm3 fetch EXP (cold, warm)   vs  rsync -a testcluster:.../outputs/ DIR (cold, warm)

Wall times are medians over --runs; "commands" are the remote commands lxm3
sent (counted by wrapping its transport in the measured process) and
"connections" the SSH logins the testbed's sshd logged. Last line:

    R1=<metrics s>/<cat s> R2=<cold fetch s>/<cold rsync s> R3=<warm fetch s>/<warm rsync s> commands=<metrics>,<fetch>
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SSH_CONFIG = os.environ.get("LXM3_TESTBED_SSH_CONFIG", "/tmp/lxm3-testbed/ssh/ssh_config")
ALIAS = os.environ.get("LXM3_TESTBED_ALIAS", "testcluster")
USER = os.environ.get("LXM3_TESTBED_USER", "hpcuser")
SSHD_LOG = os.environ.get("LXM3_TESTBED_SSHD_LOG", "/tmp/lxm3-testbed/ssh/sshd.log")

#: Lays out N tasks' outputs (run remotely with python3; argv: outputs dir, tasks, lines).
GENERATE = """\
import json, os, sys
outputs, tasks, lines = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
blob = os.urandom(1024)
for task in range(tasks):
    here = os.path.join(outputs, str(task))
    os.makedirs(os.path.join(here, "eval"), exist_ok=True)
    with open(os.path.join(here, "metrics.jsonl"), "w") as handle:
        for step in range(lines):
            handle.write(json.dumps({"step": step, "loss": 1.0 / (step + 1 + task % 7), "acc": step / lines}) + "\\n")
    with open(os.path.join(here, "model.ckpt"), "wb") as handle:
        handle.write(blob)
    with open(os.path.join(here, "eval", "score.json"), "w") as handle:
        handle.write(json.dumps({"task": task}))
"""

#: Runs the lxm3 CLI counting remote commands (transport commands + rsyncs); prints the count to fd 3.
COUNTING = """\
import os, subprocess, sys
from lxm3.transport.ssh import SSHTransport
count = [0]
original_run = SSHTransport.run
def run(self, argv, **kwargs):
    count[0] += 1
    return original_run(self, argv, **kwargs)
SSHTransport.run = run
original_subprocess_run = subprocess.run
def counted(argv, *args, **kwargs):
    if os.path.basename(str(argv[0])) == "rsync":
        count[0] += 1
    return original_subprocess_run(argv, *args, **kwargs)
subprocess.run = counted
from lxm3.cli.main import main
code = main(sys.argv[1:])
with open(os.environ["LXM3_BENCH_COUNT"], "w") as handle:
    handle.write(str(count[0]))
sys.exit(code)
"""


def ssh(script: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ssh", "-F", SSH_CONFIG, "-o", "BatchMode=yes", ALIAS, "--", script],
        capture_output=True,
        text=True,
        check=True,
        **kwargs,
    )


def logins() -> int:
    with open(SSHD_LOG, errors="replace") as handle:
        return sum(1 for line in handle if "Accepted publickey" in line)


def timed(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, str, int]:
    """(wall seconds, stdout, SSH logins) of one process."""
    before = logins()
    started = time.perf_counter()
    result = subprocess.run(argv, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:4])}... failed: {result.stderr.strip()[-500:]}")
    time.sleep(0.2)  # sshd writes its log line after the login
    return elapsed, result.stdout, logins() - before


def lxm3(args: list[str], env: dict[str, str]) -> tuple[float, str, int, int]:
    """(wall seconds, stdout, SSH logins, remote commands) of one `lxm3 ARGS` process."""
    count_file = Path(env["LXM3_BENCH_HOME"]) / "count"
    elapsed, out, connections = timed(
        [sys.executable, "-c", COUNTING, *args], env=dict(env, LXM3_BENCH_COUNT=str(count_file))
    )
    return elapsed, out, connections, int(count_file.read_text())


def setup(home: Path, staging: str, tasks: int, lines: int) -> tuple[dict[str, str], int, str]:
    from lxm3 import xm_cluster
    from lxm3.runtime.task_table import write_task_table
    from lxm3.store.db import ExperimentStore

    config = home / "lxm.toml"
    config.write_text(
        f'[local.storage]\nstaging = "{home / "local"}"\n[[clusters]]\nname = "testcluster"\n'
        f'server = "{ALIAS}"\nssh_config = "{SSH_CONFIG}"\n[clusters.storage]\nstaging = "{staging}"\n'
    )
    env = dict(
        os.environ, LXM_CONFIG=str(config), LXM3_STORE=str(home / "store.sqlite3"), LXM3_BENCH_HOME=str(home)
    )
    os.environ.update(LXM_CONFIG=env["LXM_CONFIG"], LXM3_STORE=env["LXM3_STORE"])
    store = ExperimentStore(home / "store.sqlite3")
    experiment_id = store.create_experiment("results-bench", config_path=str(config))
    job_rel = f"experiments/{experiment_id}/1/bench"
    local_dir = home / "local" / "remote" / "testcluster" / job_rel
    write_task_table(local_dir, ([[f"--lr={task / tasks}", f"--seed={task}"], {}] for task in range(tasks)))
    store.add_work_unit(experiment_id, 1, {})
    store.add_job(
        experiment_id,
        1,
        {
            "name": "bench",
            "target": "testcluster",
            "scheduler": "slurm",
            "num_tasks": tasks,
            "remote_dir": f"{staging}/{job_rel}",
            "local_dir": str(local_dir),
            "submitted": [],
            "executor": xm_cluster.Slurm(),
        },
    )
    outputs = f"{staging}/{job_rel}/outputs"
    started = time.perf_counter()
    ssh(shlex.join(["python3", "-c", GENERATE, outputs, str(tasks), str(lines)]), timeout=900)
    print(f"laid out {tasks} tasks' outputs in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return env, experiment_id, outputs


def report(options: argparse.Namespace, rows: dict[str, list[tuple[float, int, int]]]) -> None:
    """The table and the last line (printed before the fetched files are removed, which takes a while)."""
    print(
        f"\n{options.tasks} tasks x ({options.lines} metrics lines + 2 files), median of {options.runs} runs"
    )
    print(f"{'':34} {'wall s':>8} {'SSH logins':>11} {'commands':>9}")
    medians = {}
    for name, values in rows.items():
        wall = statistics.median(v[0] for v in values)
        medians[name] = wall
        print(f"{name:34} {wall:8.2f} {max(v[1] for v in values):11d} {max(v[2] for v in values):9d}")
    metrics_commands = max(v[2] for v in rows["lxm3 metrics --json"])
    fetch_commands = max(v[2] for v in rows["lxm3 fetch (cold)"])
    print(
        f"R1={medians['lxm3 metrics --json']:.2f}/{medians['ssh host cat */metrics.jsonl']:.2f} "
        f"R2={medians['lxm3 fetch (cold)']:.2f}/{medians['rsync -a outputs/ (cold)']:.2f} "
        f"R3={medians['lxm3 fetch (warm)']:.2f}/{medians['rsync -a outputs/ (warm)']:.2f} "
        f"commands={metrics_commands},{fetch_commands}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=10000)
    parser.add_argument("--lines", type=int, default=20, help="metrics lines per task")
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    staging = f"/home/{USER}/lxm3-results-bench-{secrets.token_hex(4)}"
    rows: dict[str, list[tuple[float, int, int]]] = {}
    with tempfile.TemporaryDirectory(prefix="lxm3-results-bench-") as temporary:
        home = Path(temporary)
        try:
            env, experiment_id, outputs = setup(home, staging, options.tasks, options.lines)
            rsync_e = shlex.join(["ssh", "-F", SSH_CONFIG, "-o", "BatchMode=yes"])
            for run in range(options.runs):
                elapsed, out, connections, commands = lxm3(["metrics", str(experiment_id), "--json"], env)
                document = json.loads(out)
                assert len(document["work_units"][0]["tasks"]) == options.tasks
                rows.setdefault("lxm3 metrics --json", []).append((elapsed, connections, commands))
                cat = f"cat {shlex.quote(outputs)}/*/metrics.jsonl"
                elapsed, out, connections = timed(
                    ["ssh", "-F", SSH_CONFIG, "-o", "BatchMode=yes", ALIAS, "--", cat]
                )
                assert out.count("\n") == options.tasks * options.lines
                rows.setdefault("ssh host cat */metrics.jsonl", []).append((elapsed, connections, 1))

                dest, bare = home / f"fetch-{run}", home / f"rsync-{run}"
                for phase in ("cold", "warm"):
                    elapsed, out, connections, commands = lxm3(
                        ["fetch", str(experiment_id), "--dest", str(dest)], env
                    )
                    rows.setdefault(f"lxm3 fetch ({phase})", []).append((elapsed, connections, commands))
                    print(f"  {phase}: {out.strip().splitlines()[-1]}", file=sys.stderr)
                    elapsed, out, connections = timed(
                        ["rsync", "-a", "--stats", "-e", rsync_e, f"{ALIAS}:{outputs}/", f"{bare}/"]
                    )
                    rows.setdefault(f"rsync -a outputs/ ({phase})", []).append((elapsed, connections, 1))
            report(options, rows)
            assert sum(1 for p in (home / "fetch-0" / "1").rglob("*") if p.is_file()) == 3 * options.tasks
        finally:
            subprocess.run(
                [
                    "ssh",
                    "-F",
                    SSH_CONFIG,
                    "-o",
                    "BatchMode=yes",
                    ALIAS,
                    "--",
                    f"rm -rf {shlex.quote(staging)}",
                ],
                check=False,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
