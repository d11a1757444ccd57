#!/usr/bin/env python3
"""Search scheduling overhead: from a trial's end to the next trial's submission.

    python benchmarks/search_overhead.py [--trials 16] [--concurrent 4] [--seconds 2] [--executor slurm]

Runs a random-search study on the real testbed (tests/testbed, brought up by
`bash tests/testbed/up.sh`): each trial sleeps `--seconds`, then reports its
loss and its own start/end times through $LXM_METRICS_FILE. For every trial
that was submitted because another ended (all but the first `--concurrent`),
the overhead is its submission time minus the end time, on the task's own
clock, of the trial whose slot it took. It splits into detection (the study
noticing the end: the scheduler query and its poll interval) and submission
(asking the algorithm, deploying and sbatch). Target: median <= 1 s.

Ends with `P10=<median overhead s>` (max and the split on the line before).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

OBJECTIVE = """\
import json, os, sys, time
start = time.time()
args = dict(arg[2:].split("=", 1) for arg in sys.argv[1:])
time.sleep(float(args.get("seconds", "0")))
x = float(args["x"])
with open(os.environ["LXM_METRICS_FILE"], "a") as out:
    out.write(json.dumps({"loss": (x - 1) ** 2, "started": start, "ended": time.time()}) + "\\n")
"""


def write_config(work: Path, executor: str) -> Path:
    ssh_dir = os.environ.get("TESTBED_SSH_DIR", "/tmp/lxm3-testbed/ssh")
    config = work / "lxm.toml"
    lines = ['project = "bench"', "[local.storage]", f'staging = "{work / "local-staging"}"']
    if executor != "local":
        lines += [
            "[[clusters]]",
            'name = "testcluster"',
            'server = "testcluster"',
            f'ssh_config = "{ssh_dir}/ssh_config"',
            "[clusters.storage]",
            f'staging = "/home/hpcuser/lxm3-bench-search-{secrets.token_hex(4)}"',
        ]
    config.write_text("\n".join(lines) + "\n")
    return config


async def run_study(args: argparse.Namespace, work: Path) -> list[dict[str, float]]:
    from lxm3 import xm, xm_cluster
    from lxm3.contrib import search

    project = work / "objective"
    project.mkdir()
    (project / "objective.py").write_text(OBJECTIVE)
    (project / "build.sh").write_text('#!/bin/sh\ncp objective.py "$BUILDDIR/"\n')
    (project / "build.sh").chmod(0o755)
    spec = xm_cluster.UniversalPackage(
        path=str(project), entrypoint=["python3", "objective.py"], build_script="build.sh"
    )
    executor: xm.Executor = {
        "slurm": xm_cluster.Slurm,
        "sge": xm_cluster.GridEngine,
        "local": xm_cluster.Local,
    }[args.executor]()
    study = search.Study(
        {"x": search.Float(-5, 5)},
        metric="loss",
        algorithm="random",
        max_trials=args.trials,
        max_concurrent=args.concurrent,
        seed=0,
    )
    async with xm_cluster.create_experiment("bench-search") as experiment:
        [executable] = experiment.package([xm.Packageable(spec, executor_spec=executor.Spec())])
        await study.run(experiment, xm.Job(executable, executor, args={"seconds": args.seconds}))
    bad = [t for t in study.trials if t.state != "COMPLETED"]
    if bad:
        raise SystemExit(f"{len(bad)} trial(s) did not complete: {bad[0].message}")
    return [
        {
            "submitted": t.submitted_at or 0.0,
            "noticed": t.ended_at or 0.0,
            "started": t.metrics["started"],
            "ended": t.metrics["ended"],
        }
        for t in sorted(study.trials, key=lambda t: t.submitted_at or 0.0)
    ]


def overheads(trials: list[dict[str, float]], concurrent: int) -> list[tuple[float, float, float]]:
    """(total, detection, submission) for each trial submitted into a freed slot."""
    result = []
    for trial in trials[concurrent:]:
        freed = max((t for t in trials if t["noticed"] <= trial["submitted"]), key=lambda t: t["noticed"])
        result.append(
            (
                trial["submitted"] - freed["ended"],
                freed["noticed"] - freed["ended"],
                trial["submitted"] - freed["noticed"],
            )
        )
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--concurrent", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--executor", choices=["slurm", "sge", "local"], default="slurm")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lxm3-bench-search-"))
    os.environ["LXM_CONFIG"] = str(write_config(work, args.executor))
    os.environ["XDG_DATA_HOME"] = str(work / "data")
    os.environ.setdefault("LXM3_LOCAL_ECHO", "0")
    trials = asyncio.run(run_study(args, work))
    figures = overheads(trials, args.concurrent)
    total = [f[0] for f in figures]
    detect = [f[1] for f in figures]
    submit = [f[2] for f in figures]
    print(
        json.dumps(
            {
                "executor": args.executor,
                "trials": args.trials,
                "concurrent": args.concurrent,
                "median_s": round(statistics.median(total), 3),
                "max_s": round(max(total), 3),
                "median_detection_s": round(statistics.median(detect), 3),
                "median_submission_s": round(statistics.median(submit), 3),
            }
        )
    )
    print(f"P10={statistics.median(total):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
