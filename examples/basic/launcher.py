"""The basic example: one job and one 4-task sweep, on this machine (or a cluster).

lxm3 launch examples/basic/launcher.py            # Local
lxm3 launch examples/basic/launcher.py -- --executor=slurm
"""

from absl import app, flags

from lxm3 import xm, xm_cluster

_EXECUTOR = flags.DEFINE_enum("executor", "local", ["local", "slurm", "sge"], "Where to run.")
_WAIT = flags.DEFINE_bool("wait", True, "Wait for the jobs and fail if one fails.")


def make_executor() -> xm.Executor:
    requirements = xm_cluster.JobRequirements(cpu=1, ram=1 * xm.GiB)
    if _EXECUTOR.value == "slurm":
        return xm_cluster.Slurm(requirements=requirements, walltime=10 * xm.Min)
    if _EXECUTOR.value == "sge":
        return xm_cluster.GridEngine(requirements=requirements, walltime=10 * xm.Min)
    return xm_cluster.Local(requirements, max_parallel=2)


def main(_: list[str]) -> None:
    with xm_cluster.create_experiment(experiment_title="basic") as experiment:
        executor = make_executor()
        spec = xm_cluster.PythonPackage(path=".", entrypoint=xm_cluster.ModuleName("py_package.main"))
        [executable] = experiment.package([xm.Packageable(spec, executor_spec=executor.Spec())])

        # One job.
        experiment.add(xm.Job(executable, executor, args={"seed": 42, "learning_rate": 0.01}))

        # A sweep: one task per seed, each with its own env.
        seeds = list(range(4))
        experiment.add(
            xm_cluster.ArrayJob(
                executable=executable,
                executor=executor,
                args=[{"seed": seed} for seed in seeds],
                env_vars=[{"TASK": f"task_{seed}"} for seed in seeds],
            )
        )
        if _WAIT.value:
            for work_unit in experiment.work_units.values():
                work_unit.wait_until_complete()
        print(f"experiment {experiment.experiment_id}: {experiment.work_unit_count} work units done")


if __name__ == "__main__":
    app.run(main)
