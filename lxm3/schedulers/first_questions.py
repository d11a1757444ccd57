"""The questions a launch asks a cluster before it can stage a job, so they can be asked ahead.

`lxm3 launch` connects to the cluster it expects while the project builds
(`lxm3.transport.preconnect`) and asks these in the same background thread,
in one remote command (`lxm3.transport.prefetch`). They are exactly the
commands the schedulers run when their caches are cold (the same argv), so
answering them ahead changes no result: the schedulers parse and cache the
answers as usual. A question a cache already answers is not asked.
"""

from __future__ import annotations

from lxm3.schedulers import limits
from lxm3.transport.base import Transport
from lxm3.transport.prefetch import Questions

#: `SlurmScheduler.max_array_size`'s question.
SLURM_CONFIG = ("scontrol", "show", "config")
#: `GridEngineScheduler.max_array_size`'s (asked once per process) and `limits.sge_capacity`'s.
SGE_CONFIG = ("qconf", "-sconf")
#: A command only that scheduler has, when the cluster's entry does not name it.
_PROBES = {"slurm": "sbatch", "sge": "qsub"}


def first_questions(cluster_name: str, scheduler: str | None, transport: Transport) -> list[Questions]:
    """What a launch on `cluster_name` will ask first, for the scheduler named, else for any it has."""
    groups = []
    if scheduler in (None, "slurm"):
        from lxm3.schedulers.slurm import SlurmScheduler

        slurm = []
        if SlurmScheduler(cluster_name=cluster_name).known_max_array_size(transport) is None:
            slurm.append(SLURM_CONFIG)
        elif scheduler is None:
            # Slurm answered here before: a Slurm cluster (a relaunch asks Grid Engine nothing).
            scheduler = "slurm"
        if limits.cached_static(cluster_name, transport.label) is None:
            slurm.append(("bash", "-c", limits.SLURM_STATIC))
        if slurm:
            groups.append(Questions(tuple(slurm), None if scheduler else _PROBES["slurm"]))
    if scheduler in (None, "sge"):
        sge = [SGE_CONFIG]
        if limits.cached_static(cluster_name, transport.label) is None:
            sge.append(SGE_CONFIG)  # asked twice, run once
        groups.append(Questions(tuple(sge), None if scheduler else _PROBES["sge"]))
    return groups
