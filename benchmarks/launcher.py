"""The ONE launch script both tools run (lxm3 0.5 and lxm3 0.4.2).

    lxm3 launch benchmarks/launcher.py -- --tasks=1000 --sweep=0

Only APIs the two versions share: create_experiment, PythonPackage +
ModuleName, Packageable, Slurm(walltime, extra_directives), ArrayJob(name,
args). Jobs are submitted held (`--hold`) so the benchmark never loads the
shared Slurm with thousands of real tasks; the harness cancels them.

Written for the harness (not needed by either tool): `$LXM_BENCH_STATS`
names a JSON file that gets this process's peak RSS and, when the tool
exposes it, the bytes its transport sent.
"""

import json
import os
import resource

from absl import app, flags

from lxm3 import xm, xm_cluster

_TASKS = flags.DEFINE_integer("tasks", 1000, "Tasks in the sweep.")
_SWEEP = flags.DEFINE_integer(
    "sweep", 0, "Changes every task's hyperparameters (a relaunch with new values)."
)
_HOLD = flags.DEFINE_bool("hold", True, "Submit held (sbatch --hold).")
_NAME = flags.DEFINE_string("job_name", "lxmbench", "ArrayJob name (the harness finds the jobs by it).")
_PACK = flags.DEFINE_integer(
    "pack", 0, "lxm3 0.5 only: ArrayJob(pack=N), N sweep tasks per array task (0: not passed)."
)

PROJECT = os.environ.get("LXM_BENCH_PROJECT") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "project"
)


def main(_):
    with xm_cluster.create_experiment(experiment_title="lxmbench") as experiment:
        executor = xm_cluster.Slurm(walltime=600, extra_directives=["--hold"] if _HOLD.value else [])
        spec = xm_cluster.PythonPackage(path=PROJECT, entrypoint=xm_cluster.ModuleName("benchproj.train"))
        [executable] = experiment.package([xm.Packageable(spec, executor_spec=executor.Spec())])
        sweep = _SWEEP.value
        args = [
            {
                "seed": task,
                "lr": 10.0 ** -(1 + (task + sweep) % 5),
                "batch_size": 32 << (task % 4),
                "sweep": sweep,
            }
            for task in range(_TASKS.value)
        ]
        packing = {"pack": _PACK.value} if _PACK.value else {}
        experiment.add(
            xm_cluster.ArrayJob(
                executable=executable, executor=executor, args=args, name=_NAME.value, **packing
            )
        )
    stats_path = os.environ.get("LXM_BENCH_STATS")
    if stats_path:
        with open(stats_path, "w") as handle:
            json.dump(
                {
                    "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                    "bytes_sent": getattr(experiment, "bytes_sent", None),
                    "experiment_id": experiment.experiment_id,
                },
                handle,
            )


if __name__ == "__main__":
    app.run(main)
