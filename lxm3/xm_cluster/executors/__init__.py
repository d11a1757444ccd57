"""Executors: where a job runs and with what resources (one module per executor).

Names are imported on first use: a Slurm launch does not import Grid Engine's executor.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lxm3.lazy import LazyNames

if TYPE_CHECKING:
    from lxm3.xm_cluster.executors.base import DockerOptions, SingularityOptions
    from lxm3.xm_cluster.executors.gridengine import GridEngine, GridEngineSpec
    from lxm3.xm_cluster.executors.local import Local, LocalSpec
    from lxm3.xm_cluster.executors.slurm import Slurm, SlurmSpec

_EXPORTS = {
    "DockerOptions": "lxm3.xm_cluster.executors.base",
    "SingularityOptions": "lxm3.xm_cluster.executors.base",
    "GridEngine": "lxm3.xm_cluster.executors.gridengine",
    "GridEngineSpec": "lxm3.xm_cluster.executors.gridengine",
    "Local": "lxm3.xm_cluster.executors.local",
    "LocalSpec": "lxm3.xm_cluster.executors.local",
    "Slurm": "lxm3.xm_cluster.executors.slurm",
    "SlurmSpec": "lxm3.xm_cluster.executors.slurm",
}


_LAZY = LazyNames(__name__, _EXPORTS)


def __getattr__(name: str) -> Any:
    return _LAZY.get(name)


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
