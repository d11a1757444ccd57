"""P3: scheduler commands per status poll while watching N tasks (lxm3 0.5; project venv).

    python benchmarks/p3_driver.py OUT.json --calls-log LOG --sizes 1,10,100,10000 --polls 3

For each N: launches an N-task ArrayJob of the benchmark project to the
configured Slurm cluster (held, through `$LXM_CONFIG`), then polls its status
`--polls` times through the public API (`work_unit.get_status()`, which asks
the cluster's shared watcher to refresh) and counts, per poll, the Slurm
commands the cluster-side shims logged in LOG (sacct/squeue/scontrol/sbatch/
scancel) and the watcher's own `queries` counter; finally stops the unit
(`scancel`). Writes per N: the counts per poll, the job's remote dir and its
submitted chunks (P4 runs the staged job scripts from there).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time


def _log_lines(path: str) -> list[str]:
    with open(path, encoding="utf-8", errors="replace") as handle:
        return handle.read().splitlines()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--calls-log", required=True)
    parser.add_argument("--sizes", default="1,10,100,10000")
    parser.add_argument("--polls", type=int, default=3)
    parser.add_argument("--project", required=True)
    parsed = parser.parse_args()

    from absl import flags

    flags.FLAGS(["p3_driver"])  # create_experiment reads absl flags (--lxm_config); none given
    from lxm3 import xm, xm_cluster

    results = []
    executor = xm_cluster.Slurm(walltime=600, extra_directives=["--hold"])
    for size in (int(text) for text in parsed.sizes.split(",")):
        started = time.perf_counter()
        with xm_cluster.create_experiment(experiment_title="lxmbench-p3") as experiment:
            spec = xm_cluster.PythonPackage(
                path=parsed.project, entrypoint=xm_cluster.ModuleName("benchproj.train")
            )
            [executable] = experiment.package([xm.Packageable(spec, executor_spec=executor.Spec())])
            args = [{"seed": task, "lr": 0.001} for task in range(size)]
            experiment.add(
                xm_cluster.ArrayJob(executable=executable, executor=executor, args=args, name="lxmbench")
            )
        launch_seconds = time.perf_counter() - started
        [unit] = list(experiment.work_units.values())
        [job] = unit.jobs
        watcher = job.target.watcher
        polls = []
        try:
            for _ in range(parsed.polls):
                before = len(_log_lines(parsed.calls_log))
                queries_before = watcher.queries
                poll_started = time.perf_counter()
                status = unit.get_status()
                poll_seconds = time.perf_counter() - poll_started
                new = _log_lines(parsed.calls_log)[before:]
                commands = [line.split(" ", 2)[1] for line in new if len(line.split(" ", 2)) > 1]
                polls.append(
                    {
                        "scheduler_commands": len(commands),
                        "commands": commands,
                        "watcher_queries": watcher.queries - queries_before,
                        "seconds": round(poll_seconds, 4),
                        "tasks_reported": len(status.tasks),
                        "states": sorted({task.state.name for task in status.tasks}),
                    }
                )
                time.sleep(0.2)
        finally:
            unit.stop()
        results.append(
            {
                "tasks": size,
                "launch_seconds": round(launch_seconds, 3),
                "arrays": len(job.submitted),
                "remote_dir": job.remote_dir,
                "chunks": [
                    {
                        "job_id": s.job_id,
                        "offset": s.chunk.offset,
                        "count": s.chunk.count,
                        "script": s.script_path,
                    }
                    for s in job.submitted
                ],
                "polls": polls,
                "max_scheduler_commands_per_poll": max(p["scheduler_commands"] for p in polls)
                if polls
                else None,
                "max_watcher_queries_per_poll": max(p["watcher_queries"] for p in polls) if polls else None,
            }
        )
        print(
            f"P3 N={size}: {results[-1]['max_scheduler_commands_per_poll']} scheduler command(s) per poll",
            file=sys.stderr,
        )
    with open(parsed.out, "w") as handle:
        json.dump(results, handle, indent=1)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("LXM3_QUIET", "1")
    sys.exit(main())
