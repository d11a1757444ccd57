"""Grid Engine executors for UCL's clusters (`cs` and `myriad`), from abstract requirements.

    from lxm3.contrib import ucl
    executor = ucl.UclGridEngine(xm_cluster.JobRequirements(gpu=1, ram=8 * xm.GB), walltime=8 * xm.Hr)

The two clusters name their complexes differently, so the same requirements
become different `-l` requests and parallel environments (the rules of
lxm3 0.4, which UCL users' launchers rely on):

    requirement   cs                                    myriad
    ram=R         -l tmem=R, -l h_vmem=R (not with GPUs) -l mem=R
    gpu=N (N>0)   -l gpu=true, and -pe gpu N when N > 1  -l gpu=N
    cpu=N (N>1)   -pe smp N (a GPU PE takes precedence)  -pe smp N
    (always)                                            module load singularity-env

The cluster is `requirements.location`, else `$LXM_CLUSTER`, else the first
`[[clusters]]` entry of the configuration; its name must be `cs` or `myriad`,
and the executor submits to that entry. The result is an ordinary
`xm_cluster.GridEngine`: edit `executor.resources` or
`executor.parallel_environments` afterwards to refine it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from lxm3 import xm
from lxm3.config import ConfigError, load_config
from lxm3.xm_cluster.executors.gridengine import GridEngine

Translation = tuple[dict[str, Any], dict[str, int], list[str]]


def _amounts(requirements: xm.JobRequirements) -> tuple[Any, int, int]:
    """(ram as given, gpus, cpus) from the requirements."""
    gpus = int(getattr(requirements, "gpu_count", 0) or 0)
    cpu = getattr(requirements, "cpu", None) or 0
    return getattr(requirements, "memory", None), gpus, math.ceil(cpu)


def _cs(requirements: xm.JobRequirements) -> Translation:
    ram, gpus, cpus = _amounts(requirements)
    resources: dict[str, Any] = {}
    environments: dict[str, int] = {}
    if ram:
        resources["tmem"] = ram
        if gpus == 0:
            # cs' GPU nodes refuse jobs with h_vmem (the CUDA runtime maps more virtual memory than it uses).
            resources["h_vmem"] = ram
    if gpus > 0:
        resources["gpu"] = "true"
        if gpus > 1:
            environments["gpu"] = gpus
    if cpus > 1 and not environments:
        environments["smp"] = cpus
    return resources, environments, []


def _myriad(requirements: xm.JobRequirements) -> Translation:
    ram, gpus, cpus = _amounts(requirements)
    resources: dict[str, Any] = {}
    environments: dict[str, int] = {}
    if ram:
        resources["mem"] = ram
    if gpus > 0:
        resources["gpu"] = gpus
    if cpus > 1:
        environments["smp"] = cpus
    # Singularity is a module on myriad.
    return resources, environments, ["singularity-env"]


#: Supported clusters, by the `[[clusters]]` name lxm3 0.4 documented for them.
CLUSTERS: dict[str, Callable[[xm.JobRequirements], Translation]] = {"cs": _cs, "myriad": _myriad}


def _cluster_name(requirements: xm.JobRequirements) -> str:
    location = getattr(requirements, "location", None)
    if location:
        return str(location)
    try:
        return load_config().cluster().name
    except ConfigError as error:
        raise ValueError(
            f"UclGridEngine needs a cluster named {' or '.join(CLUSTERS)}: set $LXM_CLUSTER, "
            f"requirements location=..., or a [[clusters]] entry with that name ({error})"
        ) from None


def UclGridEngine(  # noqa: N802 - lxm3 0.4's public name
    requirements: xm.JobRequirements, walltime: Any = None, **kwargs: Any
) -> GridEngine:
    """A `GridEngine` executor for UCL's `cs` or `myriad` cluster (see the module docstring).

    `walltime`: seconds, a timedelta or "HH:MM:SS". Other keywords go to
    `GridEngine`; `resources`, `parallel_environments` and `modules` given
    here are merged over the translated ones.
    """
    name = _cluster_name(requirements)
    if name not in CLUSTERS:
        raise ValueError(
            f"UclGridEngine supports the UCL clusters {', '.join(sorted(CLUSTERS))}; got cluster {name!r} "
            "(set $LXM_CLUSTER or requirements location=..., or name your [[clusters]] entry accordingly)"
        )
    resources, environments, modules = CLUSTERS[name](requirements)
    resources.update(kwargs.pop("resources", None) or {})
    environments.update(kwargs.pop("parallel_environments", None) or {})
    modules.extend(module for module in kwargs.pop("modules", None) or () if module not in modules)
    kwargs.setdefault("cluster", name)
    return GridEngine(
        resources=resources,
        parallel_environments=environments,
        modules=modules,
        walltime=walltime,
        **kwargs,
    )
