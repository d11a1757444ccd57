"""Executors: where a job runs and with what resources (one module per executor)."""

from lxm3.xm_cluster.executors.base import DockerOptions, SingularityOptions
from lxm3.xm_cluster.executors.gridengine import GridEngine, GridEngineSpec
from lxm3.xm_cluster.executors.local import Local, LocalSpec
from lxm3.xm_cluster.executors.slurm import Slurm, SlurmSpec

__all__ = [
    "DockerOptions",
    "GridEngine",
    "GridEngineSpec",
    "Local",
    "LocalSpec",
    "SingularityOptions",
    "Slurm",
    "SlurmSpec",
]
