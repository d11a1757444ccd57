"""What one task of a job needs: `xm.JobRequirements(cpu=2, ram=4 * xm.GiB, v100=1)`.

The scheduler modules translate this abstract form into their directives, so
the same launch script targets Slurm, Grid Engine or the local machine.
Construction follows XManager: names are case-insensitive (`RAM` is memory),
an unknown name is a `KeyError`, a resource given twice or a second
accelerator kind is a `ValueError`, and an accelerator amount may be a
topology (`tpu_v3="4x4"`, `v100="4x2"` = 4 GPUs on each of 2 hosts).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lxm3.xm.resources import (
    AcceleratorType,
    Architecture,
    GpuType,
    ResourceDict,
    ResourceQuantity,
    ResourceType,
    ServiceTier,
    Topology,
    TpuType,
)


def _parse_quantity(resource: ResourceType, value: Any) -> tuple[float, Topology | None]:
    """An amount as a float, plus its topology when it was given as one."""
    if isinstance(value, Topology):
        return float(value.chip_count), value
    if isinstance(value, str):
        if "x" in value:
            topology = Topology(value)
            return float(topology.chip_count), topology
        try:
            amount = float(value)
        except ValueError:
            raise ValueError(
                f"Couldn't parse resource quantity for {resource}. {value!r} was given."
            ) from None
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        amount = float(value)
    else:
        raise ValueError(
            f"resource {resource.name.lower()} must be a non-negative number or a topology string, got {value!r}"
        )
    if amount < 0:
        raise ValueError(f"resource {resource.name.lower()} must be a non-negative number, got {value!r}")
    return amount, None


class JobRequirements:
    """The resources of one task of a job, where it runs and how many replicas.

    Attributes:
      task_requirements: amount per `ResourceType` for a single task.
      accelerator: the accelerator kind asked for, if any (one kind per job).
      topology: the accelerator topology (`Topology("2")` for `v100=2`).
      location: where to run (lxm3: a partition/queue hint), or None.
      replicas: identical tasks of the job (nodes on Slurm); 1 by default.
      service_tier: XManager's availability tier (not used by HPC schedulers).
      architecture: the CPU architecture the job needs, or None for any.
    """

    def __init__(
        self,
        resources: Mapping[ResourceType | str, ResourceQuantity] | None = None,
        *,
        location: str | None = None,
        replicas: int | None = None,
        service_tier: ServiceTier | None = None,
        architecture: Architecture | None = None,
        **kw_resources: ResourceQuantity,
    ) -> None:
        self.location = location
        self.service_tier: ServiceTier = service_tier or ServiceTier.PROD
        self.architecture = architecture
        self.task_requirements = ResourceDict()
        self.accelerator: ResourceType | None = None
        self.topology: Topology | None = None
        # What the caller wrote (topologies kept), so `merge` can rebuild requirements.
        self._given: dict[ResourceType, ResourceQuantity] = {}

        for name, value in [*(resources or {}).items(), *kw_resources.items()]:
            resource: ResourceType = ResourceType[name]  # type: ignore[misc]  # also takes a member
            amount, topology = _parse_quantity(resource, value)
            if resource in AcceleratorType:
                if self.accelerator is not None:
                    raise ValueError(
                        f"Accelerator already set: only one accelerator kind per job, got "
                        f"{self.accelerator.name.lower()} and {resource.name.lower()}"
                    )
                self.accelerator = resource
                if topology is None and amount.is_integer():
                    topology = Topology(f"{amount:g}")
                self.topology = topology
            elif topology is not None:
                raise ValueError(f"A topology specified for non accelerator resource {resource}.")
            if resource in self.task_requirements:
                raise ValueError(f"{resource} has been specified twice.")
            self.task_requirements[resource] = amount
            self._given[resource] = value

        if replicas is not None and (
            isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 1
        ):
            raise ValueError(f"replicas must be a positive integer, got {replicas!r}")
        if self.accelerator in GpuType and self.topology is not None and len(self.topology.dimensions) == 2:
            hosts = self.topology.dimensions[1]
            if replicas is not None and replicas != hosts:
                raise ValueError(
                    f"For multihost GPUs with topology {self.topology.name}, replicas should be either None "
                    f"or {hosts}. Found: {replicas}"
                )
            replicas = hosts
        self.replicas: int = replicas or 1
        if self.replicas > 1 and self.accelerator in TpuType:
            raise ValueError(f"Replicated jobs are not supported for {self.accelerator}.")

    # ----- lxm3's conveniences for scheduler modules -----
    @property
    def cpu(self) -> float | None:
        """vCPUs per task, or None when not requested."""
        return self.task_requirements.get(ResourceType.CPU)

    @property
    def memory(self) -> float | None:
        """Bytes of memory per task, or None when not requested."""
        return self.task_requirements.get(ResourceType.MEMORY)

    @property
    def accelerator_count(self) -> int:
        """Accelerators per task (of the one kind asked for); 0 when none."""
        if self.accelerator is None:
            return 0
        return int(self.task_requirements[self.accelerator])

    @property
    def gpu_count(self) -> int:
        """GPUs requested (of any model); 0 for CPU-only or TPU jobs."""
        return self.accelerator_count if self.accelerator in GpuType else 0

    def merge(self, other: JobRequirements) -> JobRequirements:
        """Returns these requirements updated by `other` (other's values win).

        An accelerator in `other` replaces this one's (a job has one kind);
        location, tier and architecture are taken from `other` when it sets
        them, replicas when it asks for more than one.
        """
        given: dict[ResourceType, ResourceQuantity] = {
            resource: value
            for resource, value in self._given.items()
            if not (other.accelerator is not None and resource in AcceleratorType)
        }
        given.update(other._given)
        return JobRequirements(
            given,  # type: ignore[arg-type]
            location=other.location or self.location,
            replicas=other.replicas
            if other.replicas != 1
            else (self.replicas if self.replicas != 1 else None),
            service_tier=other.service_tier if other.service_tier != ServiceTier.PROD else self.service_tier,
            architecture=other.architecture or self.architecture,
        )

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, JobRequirements)
            and dict(self.task_requirements) == dict(other.task_requirements)
            and self.topology == other.topology
            and self.location == other.location
            and self.replicas == other.replicas
            and self.service_tier == other.service_tier
            and self.architecture == other.architecture
        )

    __hash__ = None  # type: ignore[assignment]  # mutable (service_tier may be set)

    def __repr__(self) -> str:
        """XManager's form: `xm.JobRequirements(cpu=1.0, location='lon_r7', replicas=2)`."""
        parts = []
        for resource, value in self.task_requirements.items():
            if resource in TpuType:
                parts.append(f"{resource.name.lower()}={self.topology!r}")
            else:
                parts.append(f"{resource.name.lower()}={value!r}")
        if self.location:
            parts.append(f"location={self.location!r}")
        if self.service_tier != ServiceTier.PROD:
            parts.append(f"service_tier=xm.ServiceTier.{self.service_tier.name}")
        if self.architecture is not None:
            parts.append(f"architecture=xm.Architecture.{self.architecture.name}")
        if self.replicas != 1:
            parts.append(f"replicas={self.replicas}")
        return f"xm.JobRequirements({', '.join(parts)})"
