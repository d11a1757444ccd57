"""P8: stage hand-off latency of a pipeline on the testbed's Slurm, against a bare sbatch chain.

    python benchmarks/p8_handoff.py [--runs 5] [--scheduler slurm|sge]

Hand-off = from the moment the last task of stage A ends to the moment the
first task of stage B starts, both read from the tasks' OWN timestamps
(`time.time()` written by the program: A's last line before exiting, B's
first line).

    ours   an lxm3 experiment: A = `xm.Job` (sleeps A_SECONDS), B = `xm.Job` added with
           `dependency=a.after_succeeded()`; the launcher exits right after
           submitting, and the scheduler holds B until A succeeded
    floor  the same chain submitted by hand in ONE ssh command:
           `A=$(sbatch --parsable a.sh); sbatch --dependency=afterok:$A
           --kill-on-invalid-dep=yes b.sh`, where a.sh/b.sh run `python3 -c` to
           write the same timestamps (Grid Engine: `qsub -hold_jid`)

A runs long enough (A_SECONDS) that both stages are queued before it ends,
on both sides: the measure is the scheduler's hand-off, not how fast each
side submits (a run where B was submitted after A ended stops the benchmark
with an error).

Runs alternate (ours, floor, floor, ours, ...) so load drifts hit both alike;
the figure is median(ours) / median(floor), target <= 1.2. Output: a table,
`benchmarks/results/p8_latest.json`, and as the last line `P8=<ratio>`.
It needs the testbed up (`tests/testbed/up.sh`) and reads
`tests/testbed/env.sh`'s defaults for the ssh config and alias.
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SSH_CONFIG = os.environ.get("LXM3_TESTBED_SSH_CONFIG", "/tmp/lxm3-testbed/ssh/ssh_config")
ALIAS = os.environ.get("LXM3_TESTBED_ALIAS", "testcluster")
USER = os.environ.get("LXM3_TESTBED_USER", "hpcuser")

PROBE = """\
import os, sys, time
start = time.time()
time.sleep(float(os.environ.get("P8_SLEEP", "0")))
print("%.6f %.6f" % (start, time.time()), flush=True)
"""
BUILD = '#!/bin/sh\ncp probe.py "$BUILDDIR/"\n'
STAMP = "python3 -c 'import time; print(\"%.6f\" % time.time())'"
#: How long stage A runs: long enough for both sides to have queued B before it ends.
A_SECONDS = 5


def ssh(script: str, timeout: float = 120) -> str:
    result = subprocess.run(
        ["ssh", "-F", SSH_CONFIG, "-o", "BatchMode=yes", ALIAS, "--", script],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise RuntimeError(f"ssh failed: {result.stderr.strip()}")
    return result.stdout


def wait_for_file(path: str, timeout: float = 180) -> str:
    """Polls the cluster for a non-empty file (the benchmark's own polling, not the measure)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = ssh(f"cat {shlex.quote(path)} 2>/dev/null || true")
        if text.strip():
            return text
        time.sleep(1.0)
    raise TimeoutError(f"{path} never appeared")


def floor_once(scheduler: str, root: str) -> float:
    """One bare chain submitted by hand; returns B's start minus A's end, seconds."""
    work = f"{root}/floor-{secrets.token_hex(4)}"
    a = f"#!/bin/bash\nsleep {A_SECONDS}\n{STAMP} > {work}/a.end\n"
    b = f"#!/bin/bash\n{STAMP} > {work}/b.start\n"
    if scheduler == "slurm":
        submit = (
            "A=$(sbatch --parsable -o /dev/null a.sh) && "
            "sbatch --parsable -o /dev/null --kill-on-invalid-dep=yes --dependency=afterok:$A b.sh"
        )
    else:
        submit = "A=$(qsub -terse -o /dev/null -j y a.sh) && qsub -terse -o /dev/null -j y -hold_jid $A b.sh"
    ssh(
        f"mkdir -p {work} && cd {work} && printf %s {shlex.quote(a)} > a.sh && "
        f"printf %s {shlex.quote(b)} > b.sh && chmod +x a.sh b.sh && {submit} >/dev/null"
    )
    start = float(wait_for_file(f"{work}/b.start"))
    end = float(ssh(f"cat {work}/a.end"))
    return start - end


def ours_once(scheduler: str, probe_dir: Path, config: Path) -> float:
    """One lxm3 two-stage pipeline; the launcher exits after submitting both stages."""
    from lxm3 import xm, xm_cluster

    os.environ["LXM_CONFIG"] = str(config)
    executor: Any = xm_cluster.Slurm if scheduler == "slurm" else xm_cluster.GridEngine
    with xm_cluster.create_experiment("p8-handoff") as experiment:
        spec = xm_cluster.UniversalPackage(
            path=str(probe_dir), entrypoint=["python3", "probe.py"], build_script="build.sh"
        )
        [executable] = experiment.package([xm.Packageable(spec, executor_spec=executor.Spec())])
        a = experiment.add(xm.Job(executable, executor(), env_vars={"P8_SLEEP": str(A_SECONDS)})).result()
        b = experiment.add(xm.Job(executable, executor()), dependency=a.after_succeeded()).result()
        queued = time.time()
    [a_job], [b_job] = a.jobs, b.jobs
    b_start = float(wait_for_file(f"{b_job.log_dir}/0.out").split()[0])
    a_end = float(ssh(f"cat {a_job.log_dir}/0.out").split()[1])
    if queued >= a_end:
        raise RuntimeError(f"B was submitted {queued - a_end:.2f} s after A ended: not a hand-off")
    return b_start - a_end


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5, help="paired runs (default 5)")
    parser.add_argument("--scheduler", choices=["slurm", "sge"], default="slurm")
    options = parser.parse_args()

    root = f"/home/{USER}/lxm3-p8-{secrets.token_hex(4)}"
    with tempfile.TemporaryDirectory(prefix="lxm3-p8-") as temporary:
        local = Path(temporary)
        probe_dir = local / "probe"
        probe_dir.mkdir()
        (probe_dir / "probe.py").write_text(PROBE)
        (probe_dir / "build.sh").write_text(BUILD)
        (probe_dir / "build.sh").chmod(0o755)
        config = local / "lxm.toml"
        config.write_text(
            "\n".join(
                [
                    'project = "p8"',
                    "[local.storage]",
                    f"staging = {json.dumps(str(local / 'staging'))}",
                    "[[clusters]]",
                    'name = "testcluster"',
                    f"server = {json.dumps(ALIAS)}",
                    f"ssh_config = {json.dumps(SSH_CONFIG)}",
                    "[clusters.storage]",
                    f"staging = {json.dumps(root + '/staging')}",
                    "",
                ]
            )
        )
        os.environ.setdefault("LXM3_STORE", str(local / "store.sqlite3"))
        ours: list[float] = []
        floor: list[float] = []
        try:
            ours_once(options.scheduler, probe_dir, config)  # warm-up: builds and sends the artifact
            for run in range(options.runs):
                order = ("ours", "floor") if run % 2 == 0 else ("floor", "ours")
                for who in order:
                    if who == "ours":
                        ours.append(ours_once(options.scheduler, probe_dir, config))
                    else:
                        floor.append(floor_once(options.scheduler, root))
                print(f"run {run + 1}: ours {ours[-1]:.3f} s, floor {floor[-1]:.3f} s", flush=True)
        finally:
            ssh(f"rm -rf {shlex.quote(root)}")
    ratio = statistics.median(ours) / statistics.median(floor)
    document = {
        "measure": "P8 stage hand-off latency (last task of A ends -> first task of B starts)",
        "scheduler": options.scheduler,
        "ours_seconds": ours,
        "floor_seconds": floor,
        "ours_median": statistics.median(ours),
        "floor_median": statistics.median(floor),
        "ratio": ratio,
        "target": 1.2,
        "load_average": os.getloadavg(),
    }
    results = ROOT / "benchmarks" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "p8_latest.json").write_text(json.dumps(document, indent=1))
    print(
        f"| P8 ({options.scheduler}) | ours median {document['ours_median']:.3f} s | floor median "
        f"{document['floor_median']:.3f} s | ratio {ratio:.2f} | target <= 1.2 |"
    )
    print(f"P8={ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
