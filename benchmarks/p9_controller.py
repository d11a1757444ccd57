"""P9: the parameter controller's start latency and per-unit overhead, against a bare loop.

    LXM_CONFIG=lxm.toml python benchmarks/p9_controller.py OUT.json --executor slurm --units 5

In ONE run, on the configured cluster:

1. `lxm3 launch` of a generated launcher whose controller adds N empty jobs
   (`true`) one after the other (`add` + `wait_until_complete` each) and prints
   each one's duration. Measured: controller start latency (wall clock from
   starting `lxm3 launch` to the controller's journal `start` event — the
   testbed's cluster host is this machine, so the clocks agree) and per-unit
   time inside the controller.
2. The same N empty jobs as a bare submit-then-poll loop on the cluster host
   (one SSH command running it): `sbatch --wrap=true` + `sacct` every 0.2 s
   until COMPLETED (Slurm), or `qsub -b y true` + `qstat -j` every 0.2 s until
   the job has left (Grid Engine).

Prints and writes: start latency, per-unit medians of both, and their difference
(lxm3's overhead per unit inside the controller).
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LAUNCHER = """\
import time
from absl import app, flags
from lxm3 import xm, xm_cluster
from lxm3.contrib import parameter_controller

flags.DEFINE_string("executor", "slurm", "slurm or sge")
flags.DEFINE_integer("units", 5, "empty jobs to add one after the other")
FLAGS = flags.FLAGS


def main(_):
    with xm_cluster.create_experiment("lxmbench-p9") as experiment:
        executor = xm_cluster.Slurm() if FLAGS.executor == "slurm" else xm_cluster.GridEngine()
        spec = xm_cluster.UniversalPackage(entrypoint=["true"], build_script="build.sh")
        [empty] = experiment.package([xm.Packageable(spec, executor_spec=executor.Spec())])

        @parameter_controller.controller(executor=executor)
        async def run(experiment):
            for number in range(FLAGS.units):
                started = time.time()
                unit = await experiment.add(xm.Job(empty, executor, name="empty"))
                await unit.wait_until_complete()
                print(f"P9 unit {number} {time.time() - started:.3f}", flush=True)

        experiment.add(run())
        print(f"EXPERIMENT {experiment.experiment_id}", flush=True)


if __name__ == "__main__":
    app.run(main)
"""

BARE_SLURM = """
for i in $(seq {n}); do
  s=$(date +%s.%N); id=$(sbatch --parsable --wrap=true -o /dev/null -e /dev/null | cut -d';' -f1)
  while :; do st=$(sacct -X -n -P -o State -j "$id" 2>/dev/null | head -1)
    case "$st" in COMPLETED*|FAILED*|CANCELLED*) break;; esac; sleep 0.2; done
  echo "BARE $(echo "$(date +%s.%N) - $s" | bc)"
done
"""

BARE_SGE = """
for i in $(seq {n}); do
  s=$(date +%s.%N); id=$(qsub -terse -b y -o /dev/null -e /dev/null true)
  while qstat -j "$id" >/dev/null 2>&1; do sleep 0.2; done
  echo "BARE $(echo "$(date +%s.%N) - $s" | bc)"
done
"""


def lxm3(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "lxm3.cli.main", *args], capture_output=True, text=True, check=True
    )
    return result.stdout


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--executor", default="slurm", choices=["slurm", "sge"])
    parser.add_argument("--units", type=int, default=5)
    parsed = parser.parse_args()

    from lxm3.config import load_config

    cluster = load_config().cluster(None)
    project = Path(tempfile.mkdtemp(prefix="lxmbench-p9-"))
    (project / "launcher.py").write_text(LAUNCHER)
    (project / "build.sh").write_text("#!/bin/sh\ntrue\n")
    (project / "build.sh").chmod(0o755)

    started = time.time()
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "lxm3.cli.main",
            "launch",
            str(project / "launcher.py"),
            "--",
            f"--executor={parsed.executor}",
            f"--units={parsed.units}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    launcher_seconds = time.time() - started
    experiment_id = int(next(line.split()[1] for line in out.splitlines() if line.startswith("EXPERIMENT ")))
    deadline = time.time() + 1800
    while time.time() < deadline:
        states = json.loads(lxm3("status", str(experiment_id), "--json"))
        controller = [u for u in states["work_units"] if u["work_unit_id"] >= 100000]
        if controller and controller[0]["state"] in ("COMPLETED", "FAILED", "CANCELLED"):
            break
        time.sleep(2)
    log = lxm3("logs", str(experiment_id), "--wu", "100001")
    per_unit = [float(line.split()[-1]) for line in log.splitlines() if line.startswith("P9 unit")]

    ssh = ["ssh"] + (["-F", cluster.ssh_config] if cluster.ssh_config else []) + [str(cluster.server)]
    staging = subprocess.run([*ssh, "printf %s " + cluster.staging], capture_output=True, text=True).stdout
    journal = subprocess.run(
        [*ssh, shlex.join(["cat", f"{staging}/experiments/{experiment_id}/controller/journal.jsonl"])],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    start_event = next(json.loads(line) for line in journal.splitlines() if '"start"' in line)
    bare_script = (BARE_SLURM if parsed.executor == "slurm" else BARE_SGE).format(n=parsed.units)
    bare_out = subprocess.run(
        [*ssh, "bash -c " + shlex.quote(bare_script)], capture_output=True, text=True
    ).stdout
    bare = [float(line.split()[-1]) for line in bare_out.splitlines() if line.startswith("BARE")]

    result = {
        "executor": parsed.executor,
        "units": parsed.units,
        "experiment_id": experiment_id,
        "launcher_seconds": round(launcher_seconds, 3),
        "controller_start_latency_seconds": round(start_event["time"] - started, 3),
        "controller_per_unit_seconds": per_unit,
        "bare_loop_per_unit_seconds": bare,
        "controller_per_unit_median": statistics.median(per_unit) if per_unit else None,
        "bare_loop_per_unit_median": statistics.median(bare) if bare else None,
    }
    if per_unit and bare:
        result["overhead_per_unit_median"] = round(statistics.median(per_unit) - statistics.median(bare), 3)
    Path(parsed.out).write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
