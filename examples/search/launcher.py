"""Hyperparameter search: 30 TPE trials, 4 at a time, each a work unit.

    lxm3 launch examples/search/launcher.py                      # Local
    lxm3 launch examples/search/launcher.py -- --executor=slurm
    lxm3 launch --resume 12 examples/search/launcher.py          # continue experiment 12's study

The launcher waits while the study runs and prints a line per finished trial.
To let the workstation go away, run the same study inside the parameter
controller (docs/search.md).
"""

import asyncio

from absl import app, flags

from lxm3 import xm, xm_cluster
from lxm3.contrib import search

_EXECUTOR = flags.DEFINE_enum("executor", "local", ["local", "slurm", "sge"], "Where trials run.")
_ALGORITHM = flags.DEFINE_enum("algorithm", "tpe", ["grid", "random", "tpe"], "Search algorithm.")
_TRIALS = flags.DEFINE_integer("trials", 30, "How many trials.")
_CONCURRENT = flags.DEFINE_integer("concurrent", 4, "Trials running at once.")
_SECONDS = flags.DEFINE_float("seconds", 0.0, "How long each trial pretends to train.")


def make_executor() -> xm.Executor:
    requirements = xm_cluster.JobRequirements(cpu=1, ram=1 * xm.GiB)
    if _EXECUTOR.value == "slurm":
        return xm_cluster.Slurm(requirements=requirements, walltime=10 * xm.Min)
    if _EXECUTOR.value == "sge":
        return xm_cluster.GridEngine(requirements=requirements, walltime=10 * xm.Min)
    return xm_cluster.Local(requirements)


async def run_study() -> None:
    async with xm_cluster.create_experiment(experiment_title="search") as experiment:
        executor = make_executor()
        spec = xm_cluster.PythonPackage(
            path=".", entrypoint=xm_cluster.ModuleName("search_objective.objective")
        )
        [executable] = experiment.package([xm.Packageable(spec, executor_spec=executor.Spec())])
        study = search.Study(
            space={
                "lr": search.Float(1e-5, 1e-1, log=True),
                "layers": search.Int(1, 8),
                "opt": search.Categorical(["adam", "sgd"]),
            },
            metric="loss",
            goal="minimize",
            algorithm=_ALGORITHM.value,
            max_trials=_TRIALS.value,
            max_concurrent=_CONCURRENT.value,
            seed=0,
        )
        job = xm.Job(executable, executor, args={"seconds": _SECONDS.value})
        await study.run(experiment, job)
        print(f"experiment {experiment.experiment_id}: best loss {study.best_value} with {study.best_params}")


def main(_: list[str]) -> None:
    asyncio.run(run_study())


if __name__ == "__main__":
    app.run(main)
