"""Executors: where a job runs and with what resources (one module per executor)."""

from lxm3.xm_cluster.executors.base import DockerOptions, SingularityOptions
from lxm3.xm_cluster.executors.local import Local, LocalSpec

__all__ = ["DockerOptions", "Local", "LocalSpec", "SingularityOptions"]
