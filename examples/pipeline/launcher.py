"""A three-stage pipeline held by the scheduler: prepare -> train per dataset -> evaluate.

    lxm3 launch examples/pipeline/launcher.py                          # Local
    lxm3 launch examples/pipeline/launcher.py -- --executor=slurm      # or sge
    lxm3 launch examples/pipeline/launcher.py -- --executor=slurm --fail=prepare

On a cluster every stage is submitted at once and the launcher exits: the
scheduler starts `train` when `prepare` succeeded, `evaluate` when every
`train` task succeeded, and `cleanup` only if `prepare` failed (otherwise it
ends CANCELLED). Follow it with `lxm3 status <id>`; see docs/pipelines.md.
"""

from absl import app, flags

from lxm3 import xm, xm_cluster

_EXECUTOR = flags.DEFINE_enum("executor", "local", ["local", "slurm", "sge"], "Where to run.")
_FAIL = flags.DEFINE_enum(
    "fail", "none", ["none", "prepare", "train"], "Make a stage fail, to see what follows."
)
DATASETS = ["mnist", "cifar", "svhn"]


def make_executor() -> xm.Executor:
    if _EXECUTOR.value == "slurm":
        return xm_cluster.Slurm(walltime=10 * xm.Min)
    if _EXECUTOR.value == "sge":
        return xm_cluster.GridEngine(walltime=10 * xm.Min)
    return xm_cluster.Local(max_parallel=3)


def main(_: list[str]) -> None:
    with xm_cluster.create_experiment(experiment_title="pipeline") as experiment:
        executor = make_executor()
        spec = xm_cluster.PythonPackage(path=".", entrypoint=xm_cluster.ModuleName("pipeline_stages.main"))
        [executable] = experiment.package([xm.Packageable(spec, executor_spec=executor.Spec())])
        data_dir = f"~/lxm3-pipeline-data/{experiment.experiment_id}"

        def stage(name: str, **args: object) -> dict:
            return {"stage": name, "data_dir": data_dir, "fail": int(_FAIL.value == name), **args}

        prepare = experiment.add(
            xm.Job(executable, executor, args=stage("prepare", datasets=",".join(DATASETS)))
        ).result()
        train = experiment.add(
            xm_cluster.ArrayJob(executable, executor, args=[stage("train", dataset=d) for d in DATASETS]),
            dependency=prepare.after_succeeded(),
        ).result()
        experiment.add(
            xm.Job(executable, executor, args=stage("evaluate")), dependency=train.after_succeeded()
        )
        experiment.add(xm.Job(executable, executor, args=stage("cleanup")), dependency=prepare.after_failed())
        print(
            f"experiment {experiment.experiment_id}: pipeline submitted; `lxm3 status {experiment.experiment_id}`"
        )


if __name__ == "__main__":
    app.run(main)
