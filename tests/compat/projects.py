"""Small 0.4-style projects, written by the suite: launchers that use lxm3 0.4.2/0.4.3's API.

Each mirrors what one of lxm3 0.4's examples (or its integration test)
exercises — the same public names, called the same way — in code of our own.
The programs print what they received, so a test can check it arrived.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

PYPROJECT = """\
[project]
name = "{name}"
version = "0.1.0"
requires-python = ">=3.8"

[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[tool.setuptools]
packages = ["{package}"]
"""

#: The program every Python project runs: prints its argv, chosen env vars and a data file.
MAIN = """\
import os
import sys


def main():
    print("argv=" + " ".join(sys.argv[1:]))
    for key in sorted(os.environ):
        if key in ("FOO", "BAR", "TASK", "XLA_PYTHON_CLIENT_PREALLOCATE") or key.startswith("WANDB_"):
            print("env %s=%s" % (key, os.environ[key]))
    for arg in sys.argv[1:]:
        if arg.startswith(("--config=", "--data=")):
            path = arg.split("=", 1)[1]
            with open(path) as handle:
                print("file %s: %s" % (path, handle.read().strip()))
    if os.environ.get("FAIL_TASK") and os.environ.get("FAIL_TASK") == os.environ.get("LXM_TASK_ID"):
        sys.exit(3)


if __name__ == "__main__":
    main()
"""


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text) if not name.endswith(".toml") else text)


def python_project(root: Path, package: str = "py_package") -> None:
    """A pip-installable project `<package>` whose `main` module prints what it got."""
    _write(
        root,
        {
            "pyproject.toml": PYPROJECT.format(name=package.replace("_", "-"), package=package),
            f"{package}/__init__.py": "",
            f"{package}/main.py": MAIN,
        },
    )


def local_config(root: Path, staging: str = ".cache/lxm", extra: str = "") -> Path:
    """lxm3 0.4's template config: a RELATIVE local staging dir, plus `extra` TOML."""
    path = root / "lxm.toml"
    path.write_text(f'project = ""\n[local]\n[local.storage]\nstaging = "{staging}"\n{extra}')
    return path


def cluster_config(root: Path, names: tuple[str, ...] = ("testbed",)) -> Path:
    """Local staging plus cluster entries (dry runs never connect to them)."""
    entries = "".join(
        f'\n[[clusters]]\nname = "{name}"\nserver = "login.{name}.example"\nuser = "me"\n'
        f'[clusters.storage]\nstaging = "/scratch/me/lxm3-staging"\n'
        for name in names
    )
    return local_config(root, extra=entries)


# ----- examples/basic: Fileset config, job generator, experiment.batch() -----
BASIC_LAUNCHER = """\
from absl import app, flags

from lxm3 import xm, xm_cluster

_LAUNCH_ON_CLUSTER = flags.DEFINE_boolean("launch_on_cluster", False, "Launch on cluster")
_NUM_TASKS = flags.DEFINE_integer("num_tasks", 2, "Number of tasks to launch")


def main(_):
    with xm_cluster.create_experiment(experiment_title="basic") as experiment:
        requirements = xm_cluster.JobRequirements(ram=1 * xm.GB)
        if _LAUNCH_ON_CLUSTER.value:
            executor = xm_cluster.GridEngine(requirements=requirements, walltime=10 * xm.Min)
        else:
            executor = xm_cluster.Local(requirements=requirements)
        config_resource = xm_cluster.Fileset(files={"config.py": "config.py"})
        packageable = xm.Packageable(
            executable_spec=xm_cluster.PythonPackage(
                path=".",
                entrypoint=xm_cluster.ModuleName("py_package.main"),
                resources=[config_resource],
            ),
            args={"config": config_resource.get_path("config.py", executor.Spec())},
            executor_spec=executor.Spec(),
        )
        [executable] = experiment.package([packageable])

        async def make_job(work_unit: xm.WorkUnit, **args):
            work_unit.add(xm.Job(executable=executable, executor=executor, args=args, env_vars={"FOO": "BAR"}))

        with experiment.batch():
            for task_id in range(_NUM_TASKS.value):
                experiment.add(make_job, {"task": task_id})


if __name__ == "__main__":
    app.run(main)
"""


def basic(root: Path) -> Path:
    python_project(root)
    (root / "config.py").write_text("learning_rate = 0.1\n")
    (root / "launcher.py").write_text(BASIC_LAUNCHER)
    return root / "launcher.py"


# ----- examples/basic/batch_launcher.py: ArrayJob(work_list=...) -----
BATCH_LAUNCHER = """\
from absl import app

from lxm3 import xm, xm_cluster


def main(_):
    with xm_cluster.create_experiment(experiment_title="basic") as experiment:
        executor = xm_cluster.Local()
        spec = xm_cluster.PythonPackage(path=".", entrypoint=xm_cluster.ModuleName("py_package.main"))
        [executable] = experiment.package([xm.Packageable(spec, executor_spec=executor.Spec())])
        parameters = [
            {"args": {"seed": 1}, "env_vars": {"TASK": "1"}},
            {"args": {"seed": 2}, "env_vars": {"TASK": "2"}},
        ]
        experiment.add(xm_cluster.ArrayJob(executable=executable, executor=executor, work_list=parameters))


if __name__ == "__main__":
    app.run(main)
"""


def batch(root: Path) -> Path:
    python_project(root)
    (root / "batch_launcher.py").write_text(BATCH_LAUNCHER)
    return root / "batch_launcher.py"


# ----- examples/jax_gpu: GPU via GE resources, SingularityContainer, UCL batch, Slurm -----
JAX_LAUNCHER = """\
from absl import app, flags

from lxm3 import xm, xm_cluster

_LAUNCH_ON_CLUSTER = flags.DEFINE_boolean("launch_on_cluster", False, "Launch on cluster")
_GPU = flags.DEFINE_boolean("gpu", False, "If set, use GPU")
_SINGULARITY_CONTAINER = flags.DEFINE_string("container", "jax-cuda.sif", "Path to singularity container")


def main(_):
    with xm_cluster.create_experiment(experiment_title="basic") as experiment:
        singularity_container = _SINGULARITY_CONTAINER.value
        if _LAUNCH_ON_CLUSTER.value:
            resources = dict(gpu=1, tmem=8 * xm.GB)
            if not _GPU.value:
                resources["h_vmem"] = resources["tmem"]
            executor = xm_cluster.GridEngine(resources=resources, walltime=10 * xm.Min)
        else:
            executor = xm_cluster.Local()
        spec = xm_cluster.PythonPackage(path=".", entrypoint=xm_cluster.ModuleName("py_package.main"))
        if singularity_container is not None:
            spec = xm_cluster.SingularityContainer(spec, image_path=singularity_container)
        [executable] = experiment.package([xm.Packageable(spec, executor_spec=executor.Spec())])
        experiment.add(
            xm.Job(
                executable=executable,
                executor=executor,
                args={"seed": 1},
                env_vars={"XLA_PYTHON_CLIENT_PREALLOCATE": "false"},
            )
        )


if __name__ == "__main__":
    app.run(main)
"""

JAX_SLURM_LAUNCHER = """\
from absl import app, flags

from lxm3 import xm, xm_cluster

_SINGULARITY_CONTAINER = flags.DEFINE_string("container", "jax-cuda.sif", "Path to singularity container")
_BATCH = flags.DEFINE_bool("batch", False, "If set, launch array job example")


def main(_):
    with xm_cluster.create_experiment(experiment_title="basic") as experiment:
        executor: xm_cluster.Slurm = xm_cluster.Slurm(walltime=10 * xm.Min, extra_directives=["--gres=gpu:1"])
        spec = xm_cluster.PythonPackage(path=".", entrypoint=xm_cluster.ModuleName("py_package.main"))
        singularity_container = _SINGULARITY_CONTAINER.value
        if singularity_container is not None:
            spec = xm_cluster.SingularityContainer(spec, image_path=singularity_container)
        [executable] = experiment.package([xm.Packageable(spec, executor_spec=executor.Spec())])
        if not _BATCH.value:
            experiment.add(
                xm.Job(
                    executable=executable,
                    executor=executor,
                    args={"seed": 1},
                    env_vars={"XLA_PYTHON_CLIENT_PREALLOCATE": "false"},
                )
            )
        else:
            args = [{"seed": seed} for seed in range(2)]
            env_vars = [{"TASK": f"foo_{seed}"} for seed in range(2)]
            experiment.add(xm_cluster.ArrayJob(executable=executable, executor=executor, args=args, env_vars=env_vars))


if __name__ == "__main__":
    app.run(main)
"""

JAX_BATCH_LAUNCHER = """\
from absl import app, flags

from lxm3 import xm, xm_cluster
from lxm3.contrib import ucl

_LAUNCH_ON_CLUSTER = flags.DEFINE_boolean("launch_on_cluster", False, "Launch on cluster")
_GPU = flags.DEFINE_boolean("gpu", False, "If set, use GPU")


def main(_):
    with xm_cluster.create_experiment(experiment_title="basic") as experiment:
        if _GPU.value:
            job_requirements = xm_cluster.JobRequirements(gpu=1, ram=8 * xm.GB)
        else:
            job_requirements = xm_cluster.JobRequirements(ram=8 * xm.GB)
        if _LAUNCH_ON_CLUSTER.value:
            executor = ucl.UclGridEngine(job_requirements, walltime=10 * xm.Min)
        else:
            executor = xm_cluster.Local(job_requirements)
        packageable = xm.Packageable(
            executable_spec=xm_cluster.PythonPackage(path=".", entrypoint=xm_cluster.ModuleName("py_package.main")),
            executor_spec=executor.Spec(),
        )
        [executable] = experiment.package([packageable])
        with experiment.batch():
            for i in range(2):
                experiment.add(
                    xm.Job(executable=executable, executor=executor, args={"seed": i}, env_vars={"TASK": str(i)})
                )

        async def make_job(work_unit: xm.WorkUnit, **args) -> None:
            work_unit.add(
                xm.Job(
                    executable=executable,
                    executor=executor,
                    args={"seed": args["i"]},
                    env_vars={"TASK": work_unit.work_unit_id},
                )
            )

        with experiment.batch():
            for i in range(2):
                experiment.add(make_job, {"i": i})


if __name__ == "__main__":
    app.run(main)
"""


def jax_gpu(root: Path) -> dict[str, Path]:
    python_project(root)
    (root / "jax-cuda.sif").write_bytes(b"not really an image\n")
    launchers = {
        "launcher": JAX_LAUNCHER,
        "launcher_slurm": JAX_SLURM_LAUNCHER,
        "batch_launcher": JAX_BATCH_LAUNCHER,
    }
    paths = {}
    for name, text in launchers.items():
        (root / f"{name}.py").write_text(text)
        paths[name] = root / f"{name}.py"
    return paths


# ----- examples/pdm_project and examples/python_container: images built with Docker -----
IMAGE_LAUNCHER = """\
from absl import app, flags

from lxm3 import xm, xm_cluster
from lxm3.contrib import ucl

_LAUNCH_ON_CLUSTER = flags.DEFINE_boolean("launch_on_cluster", False, "Launch on cluster")


def main(_):
    with xm_cluster.create_experiment(experiment_title="basic") as experiment:
        job_requirements = xm_cluster.JobRequirements(ram=8 * xm.GB)
        if _LAUNCH_ON_CLUSTER.value:
            executor = ucl.UclGridEngine(job_requirements, walltime=10 * xm.Min)
        else:
            executor = xm_cluster.Local(job_requirements)
        spec = xm_cluster.{spec}(
            path=".",
            base_image="python:3.10-slim",
            entrypoint=xm_cluster.ModuleName("{package}.main"),
        )
        [executable] = experiment.package([xm.Packageable(spec, executor_spec=executor.Spec())])
        experiment.add(xm.Job(executable=executable, executor=executor))


if __name__ == "__main__":
    app.run(main)
"""


def pdm_project(root: Path) -> Path:
    python_project(root, "pdm_project")
    (root / "pdm.lock").write_text('# a PDM lock file\\n[metadata]\\ngroups = ["default"]\\n')
    (root / "launcher.py").write_text(
        IMAGE_LAUNCHER.replace("{spec}", "PDMProject").replace("{package}", "pdm_project")
    )
    return root / "launcher.py"


def python_container(root: Path) -> Path:
    python_project(root)
    (root / "requirements.txt").write_text("absl-py\n")
    (root / "launcher.py").write_text(
        IMAGE_LAUNCHER.replace("{spec}", "PythonContainer").replace("{package}", "py_package")
    )
    return root / "launcher.py"


# ----- examples/universal_package -----
UNIVERSAL_LAUNCHER = """\
from absl import app

from lxm3 import xm, xm_cluster


def main(_):
    with xm_cluster.create_experiment(experiment_title="universal") as experiment:
        executor = xm_cluster.Local()
        executable = xm.Packageable(
            xm_cluster.UniversalPackage(path=".", entrypoint=["python3", "main.py"], build_script="build.sh"),
            xm_cluster.Local.Spec(),
        )
        [executable] = experiment.package([executable])
        experiment.add(xm.Job(executable=executable, executor=executor))


if __name__ == "__main__":
    app.run(main)
"""


def universal_package(root: Path) -> Path:
    _write(
        root,
        {
            "main.py": 'print("hello from a universal package")\n',
            "build.sh": '#!/bin/bash\nset -e\ncp main.py "$BUILDDIR/"\n',
            "launch.py": UNIVERSAL_LAUNCHER,
        },
    )
    (root / "build.sh").chmod(0o755)
    return root / "launch.py"


# ----- tests/integration/basic: Local(requirements, singularity_options=..., docker_options=...) -----
INTEGRATION_LAUNCHER = """\
import os

from absl import app, flags

from lxm3 import xm, xm_cluster

_SINGULARITY_IMAGE = flags.DEFINE_string("singularity_image", None, "Name of singularity image")
_DOCKER_IMAGE = flags.DEFINE_string("docker_image", None, "Name of docker image")


def main(_):
    with xm_cluster.create_experiment(experiment_title="basic") as experiment:
        job_requirements = xm_cluster.JobRequirements(ram=8 * xm.GB)
        executor = xm_cluster.Local(
            job_requirements,
            singularity_options=xm_cluster.SingularityOptions(),
            docker_options=xm_cluster.DockerOptions(extra_options=[f"--user={os.getuid()}:{os.getgid()}"]),
        )
        spec = xm_cluster.PythonPackage(path=".", entrypoint=xm_cluster.ModuleName("py_package.main"))
        if _SINGULARITY_IMAGE.value is not None:
            spec = xm_cluster.SingularityContainer(spec, image_path=_SINGULARITY_IMAGE.value)
        elif _DOCKER_IMAGE.value is not None:
            spec = xm_cluster.DockerContainer(spec, image=_DOCKER_IMAGE.value)
        [executable] = experiment.package([xm.Packageable(spec, executor_spec=executor.Spec())])
        experiment.add(xm.Job(executable=executable, executor=executor, args={"seed": 1}))


if __name__ == "__main__":
    app.run(main)
"""


def integration_basic(root: Path) -> tuple[Path, Path]:
    """The integration test's launcher and its own lxm.toml (relative staging, a [local.env])."""
    python_project(root)
    (root / "launcher.py").write_text(INTEGRATION_LAUNCHER)
    config = local_config(root, extra='\n[local.env]\nBAR = "FOO"\n')
    return root / "launcher.py", config


# ----- 0.4.3 examples/pex_binary -----
PEX_LAUNCHER = """\
from absl import app, flags

from lxm3 import xm, xm_cluster
from lxm3.contrib import ucl

_LAUNCH_ON_CLUSTER = flags.DEFINE_boolean("launch_on_cluster", False, "Launch on cluster")
_GPU = flags.DEFINE_boolean("gpu", False, "If set, use GPU")
_SINGULARITY_CONTAINER = flags.DEFINE_string("container", None, "Path to singularity container")


def main(_):
    with xm_cluster.create_experiment(experiment_title="basic") as experiment:
        if _GPU.value:
            job_requirements = xm_cluster.JobRequirements(gpu=1, ram=8 * xm.GB)
        else:
            job_requirements = xm_cluster.JobRequirements(ram=8 * xm.GB)
        if _LAUNCH_ON_CLUSTER.value:
            executor = ucl.UclGridEngine(job_requirements, walltime=10 * xm.Min)
        else:
            executor = xm_cluster.Local(job_requirements)
        resource = xm_cluster.Fileset({xm.utils.resolve_path_relative_to_launcher("data.txt"): "data.txt"})
        data_path = resource.get_path("data.txt", executor.Spec())
        spec = xm_cluster.PexBinary(
            entrypoint=xm_cluster.ModuleName("py_package.main"),
            path=".",
            packages=["py_package"],
            dependencies=[resource],
        )
        if _SINGULARITY_CONTAINER.value is not None:
            spec = xm_cluster.SingularityContainer(spec, image_path=_SINGULARITY_CONTAINER.value)
        [executable] = experiment.package([xm.Packageable(spec, executor_spec=executor.Spec())])
        experiment.add(xm.Job(executable=executable, executor=executor, args={"seed": 1, "data": data_path}))


if __name__ == "__main__":
    app.run(main)
"""


def pex_binary(root: Path) -> Path:
    python_project(root)
    (root / "data.txt").write_text("some data\n")
    (root / "launcher.py").write_text(PEX_LAUNCHER)
    return root / "launcher.py"
