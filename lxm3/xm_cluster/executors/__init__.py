"""Executors: where a job runs and with what resources (one module per executor)."""

from lxm3.xm_cluster.executors.base import DockerOptions, SingularityOptions
from lxm3.xm_cluster.executors.local import Local, LocalSpec
from lxm3.xm_cluster.executors.slurm import Slurm, SlurmSpec

__all__ = ["DockerOptions", "Local", "LocalSpec", "SingularityOptions", "Slurm", "SlurmSpec"]
