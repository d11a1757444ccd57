"""lxm3's public backend: experiments, specs and executors for Local, Slurm and Grid Engine.

from lxm3 import xm, xm_cluster
with xm_cluster.create_experiment("sweep") as experiment:
    ...
"""

from lxm3.config import Config, define_flags
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
