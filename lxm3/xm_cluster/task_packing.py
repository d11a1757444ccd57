"""How a sweep is cut into scheduler arrays: chunks of MaxArraySize, packed when limits demand it.

`ArrayJob(..., pack=K)` asks for K sweep tasks per array task (`pack=1`:
never pack). Left unset, lxm3 packs only when the sweep would exceed what the
user may still submit (`lxm3.schedulers.limits`), with the smallest K that
fits, and says so in one line (also in a dry run, which shows the packed
scripts). Local jobs are never packed: `Local(max_parallel=...)` already
runs many tasks in one process.
"""

from __future__ import annotations

import logging
import math

import attrs

from lxm3.schedulers import limits
from lxm3.schedulers.base import ArrayChunk, split_into_chunks
from lxm3.xm_cluster.targets import Target

log = logging.getLogger(__name__)


@attrs.frozen
class PackPlan:
    """The chunks of one job and, when lxm3 chose to pack, the line saying why."""

    chunks: list[ArrayChunk]
    pack: int = 1
    parallel: int = 1
    notice: str | None = None


def plan_chunks(
    num_tasks: int, target: Target, *, pack: int | None = None, parallel: int = 1, job_name: str = "job"
) -> PackPlan:
    """The chunks a job of `num_tasks` tasks is submitted as on `target`."""
    max_array = target.max_array_size()
    if target.is_local:
        return PackPlan(split_into_chunks(num_tasks, max_array))
    notice = None
    if pack is None:
        pack = 1
        capacity = _capacity(target, num_tasks, max_array)
        if capacity is not None and num_tasks > capacity.array_tasks:
            if capacity.array_tasks < 1:
                raise limits_error(target, capacity)
            pack = math.ceil(num_tasks / capacity.array_tasks)
            arrays = math.ceil(num_tasks / pack)
            notice = (
                f"job {job_name}: {num_tasks} tasks are more than {target.name} takes now ({capacity.reason}); "
                f"packing {pack} tasks into each of {arrays} array tasks (ArrayJob(pack=...) to choose)"
            )
            log.warning(notice)
    return PackPlan(split_into_chunks(num_tasks, max_array, pack), pack, parallel, notice)


class PackingError(RuntimeError):
    """The cluster takes no more jobs from this user at all; packing cannot help."""


def limits_error(target: Target, capacity: limits.Capacity) -> PackingError:
    return PackingError(
        f"{target.name} accepts no more jobs from you now ({capacity.reason}); wait for some to end"
    )


def _capacity(target: Target, num_tasks: int, max_array: int) -> limits.Capacity | None:
    """Room left on the target, in array tasks; None when no limit is near."""
    cluster = target.cluster_config
    policy = getattr(cluster, "max_jobs", None)
    scheduler = target.scheduler.name
    try:
        if scheduler == "slurm":
            return limits.slurm_capacity(
                target.transport(), target.name, num_tasks, policy, offline=target.offline
            )
        if scheduler == "sge":
            wanted_jobs = math.ceil(num_tasks / max_array)
            return limits.sge_capacity(
                target.transport(), target.name, wanted_jobs, max_array, policy, offline=target.offline
            )
    except Exception as error:  # noqa: BLE001 - limits are advice; the submission itself is the truth
        log.debug("could not read the job limits of %s: %s", target.name, error)
    return None
