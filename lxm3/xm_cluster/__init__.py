"""lxm3's public backend: experiments, specs and executors for Local, Slurm and Grid Engine.

from lxm3 import xm, xm_cluster
with xm_cluster.create_experiment("sweep") as experiment:
    ...

The names are imported on first use (PEP 562): `lxm3 status` or `lxm3 list` import
`lxm3.xm_cluster.reloaded` and must not pay for the executors, container builders and
Jinja templates that only a launch needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lxm3.config import Config, define_flags
from lxm3.lazy import LazyNames

if TYPE_CHECKING:
    from lxm3.xm.executables import CommandList, ModuleName
    from lxm3.xm.resources import JobRequirements
    from lxm3.xm_cluster import config as config  # lxm3 0.4 scripts use `xm_cluster.config`
    from lxm3.xm_cluster.array_job import ArrayJob
    from lxm3.xm_cluster.containers.project_images import PDMProject, PythonContainer
    from lxm3.xm_cluster.containers.specs import DockerContainer, SingularityContainer
    from lxm3.xm_cluster.current import get_current_experiment
    from lxm3.xm_cluster.executable_specs import Fileset, PexBinary, PythonPackage, UniversalPackage
    from lxm3.xm_cluster.executables import Command
    from lxm3.xm_cluster.executors import DockerOptions, Local, SingularityOptions
    from lxm3.xm_cluster.executors.gridengine import GridEngine
    from lxm3.xm_cluster.executors.slurm import Slurm
    from lxm3.xm_cluster.experiment import ClusterExperiment, ClusterWorkUnit, create_experiment
    from lxm3.xm_cluster.reloaded import get_experiment

#: public name -> (module, attribute in it; None: the module itself)
_EXPORTS: dict[str, tuple[str, str | None]] = {
    "CommandList": ("lxm3.xm.executables", "CommandList"),
    "ModuleName": ("lxm3.xm.executables", "ModuleName"),
    "JobRequirements": ("lxm3.xm.resources", "JobRequirements"),
    "config": ("lxm3.xm_cluster.config", None),
    "ArrayJob": ("lxm3.xm_cluster.array_job", "ArrayJob"),
    "PDMProject": ("lxm3.xm_cluster.containers.project_images", "PDMProject"),
    "PythonContainer": ("lxm3.xm_cluster.containers.project_images", "PythonContainer"),
    "DockerContainer": ("lxm3.xm_cluster.containers.specs", "DockerContainer"),
    "SingularityContainer": ("lxm3.xm_cluster.containers.specs", "SingularityContainer"),
    "get_current_experiment": ("lxm3.xm_cluster.current", "get_current_experiment"),
    "Fileset": ("lxm3.xm_cluster.executable_specs", "Fileset"),
    "PexBinary": ("lxm3.xm_cluster.executable_specs", "PexBinary"),
    "PythonPackage": ("lxm3.xm_cluster.executable_specs", "PythonPackage"),
    "UniversalPackage": ("lxm3.xm_cluster.executable_specs", "UniversalPackage"),
    "Command": ("lxm3.xm_cluster.executables", "Command"),
    "DockerOptions": ("lxm3.xm_cluster.executors", "DockerOptions"),
    "Local": ("lxm3.xm_cluster.executors", "Local"),
    "SingularityOptions": ("lxm3.xm_cluster.executors", "SingularityOptions"),
    "GridEngine": ("lxm3.xm_cluster.executors.gridengine", "GridEngine"),
    "Slurm": ("lxm3.xm_cluster.executors.slurm", "Slurm"),
    "ClusterExperiment": ("lxm3.xm_cluster.experiment", "ClusterExperiment"),
    "ClusterWorkUnit": ("lxm3.xm_cluster.experiment", "ClusterWorkUnit"),
    "create_experiment": ("lxm3.xm_cluster.experiment", "create_experiment"),
    "get_experiment": ("lxm3.xm_cluster.reloaded", "get_experiment"),
}


_LAZY = LazyNames(__name__, _EXPORTS)


def __getattr__(name: str) -> Any:
    return _LAZY.get(name)


def __dir__() -> list[str]:
    return _LAZY.names()


define_flags()

__all__ = [
    "ArrayJob",
    "ClusterExperiment",
    "ClusterWorkUnit",
    "Command",
    "CommandList",
    "Config",
    "DockerContainer",
    "DockerOptions",
    "Fileset",
    "GridEngine",
    "JobRequirements",
    "Local",
    "ModuleName",
    "PDMProject",
    "PexBinary",
    "PythonContainer",
    "PythonPackage",
    "SingularityContainer",
    "SingularityOptions",
    "Slurm",
    "UniversalPackage",
    "create_experiment",
    "get_current_experiment",
    "get_experiment",
]
