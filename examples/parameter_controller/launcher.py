"""A pipeline run by a parameter controller: preprocess -> two trains in parallel -> evaluate.

    lxm3 launch examples/parameter_controller/launcher.py                     # Local (background)
    lxm3 launch examples/parameter_controller/launcher.py -- --executor=slurm # on the cluster

The launcher returns as soon as the controller is submitted; the controller
(an auxiliary unit) adds each stage, waits for it and adds the next, with the
workstation gone. Follow it with `lxm3 status last`.
"""

import asyncio

from absl import app, flags

from lxm3 import xm, xm_cluster
from lxm3.contrib import parameter_controller

_EXECUTOR = flags.DEFINE_enum("executor", "local", ["local", "slurm", "sge"], "Where to run.")
_SLEEP = flags.DEFINE_float("sleep", 1.0, "Seconds each stage takes.")
_TRAIN_SLEEP = flags.DEFINE_float("train_sleep", None, "Seconds each train takes (default: --sleep).")
_FAIL = flags.DEFINE_string("fail_stage", "", "Make this stage fail (to see a controller fail).")
_IMAGE = flags.DEFINE_string(
    "controller_image", "", "A Singularity/Apptainer image whose python3 runs the controller."
)
_DATASETS = ("a", "b")


def make_executor() -> xm.Executor:
    requirements = xm_cluster.JobRequirements(cpu=1, ram=1 * xm.GiB)
    if _EXECUTOR.value == "slurm":
        return xm_cluster.Slurm(requirements=requirements, walltime=30 * xm.Min)
    if _EXECUTOR.value == "sge":
        return xm_cluster.GridEngine(requirements=requirements, walltime=30 * xm.Min)
    return xm_cluster.Local(requirements, max_parallel=2)


def main(_: list[str]) -> None:
    with xm_cluster.create_experiment(experiment_title="pipeline") as experiment:
        executor = make_executor()
        spec = xm_cluster.UniversalPackage(
            path=".", build_script="build.sh", entrypoint=["python3", "stage.py"]
        )
        [executable] = experiment.package([xm.Packageable(spec, executor_spec=executor.Spec())])

        def stage(name: str, **args: object) -> xm.Job:
            sleep = _TRAIN_SLEEP.value if name == "train" and _TRAIN_SLEEP.value is not None else _SLEEP.value
            flags_ = {"stage": name, "sleep": sleep, **args}
            if _FAIL.value == name:
                flags_["fail"] = True
            return xm.Job(executable, executor, args=flags_, name=name)

        @parameter_controller.controller(
            executor=executor, package_path=".", controller_image=_IMAGE.value or None
        )
        async def run_pipeline(experiment: xm.Experiment) -> None:
            preprocess = await experiment.add(stage("preprocess"))
            await preprocess.wait_until_complete()
            trains = [await experiment.add(stage("train", dataset=name)) for name in _DATASETS]
            await asyncio.gather(*(train.wait_until_complete() for train in trains))
            evaluate = await experiment.add(stage("evaluate"))
            await evaluate.wait_until_complete()

        experiment.add(run_pipeline())
        print(
            f"experiment {experiment.experiment_id}: controller submitted; see `lxm3 status {experiment.experiment_id}`"
        )


if __name__ == "__main__":
    app.run(main)
