"""Resource requirements of a job, independent of the scheduler.

Launch scripts say `JobRequirements(cpu=4, ram=8 * GiB, gpu=1)` or name an
accelerator (`a100=2`); each scheduler module maps these to its own
directives. Keeping the abstract form here means the same launch script can
target Slurm, Grid Engine or the local machine.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

# Sizes (decimal and binary) and durations in seconds, as XManager defines them.
KB = 1000
MB = 1000**2
GB = 1000**3
TB = 1000**4
KiB = 1024
MiB = 1024**2
GiB = 1024**3
TiB = 1024**4
Sec = 1
Min = 60
Hr = 3600
Day = 86400


class ResourceType(enum.Enum):
    """Kinds of resources a job may request."""

    CPU = "cpu"
    MEMORY = "memory"
    RAM = "ram"
    EPHEMERAL_STORAGE = "ephemeral_storage"
    DISK = "disk"
    GPU = "gpu"
    # Named GPU models (rendered as `--gres=gpu:<name>:N` on Slurm).
    P4 = "p4"
    T4 = "t4"
    P100 = "p100"
    V100 = "v100"
    A100 = "a100"
    A100_80GIB = "a100_80gib"
    H100 = "h100"
    L4 = "l4"
    # TPUs exist in XManager's vocabulary; no HPC scheduler here offers them.
    TPU_V2 = "tpu_v2"
    TPU_V3 = "tpu_v3"
    TPU_V4 = "tpu_v4"

    @classmethod
    def parse(cls, name: str | ResourceType) -> ResourceType:
        """Case-insensitive lookup that names the valid choices on failure."""
        if isinstance(name, ResourceType):
            return name
        try:
            return cls(name.lower())
        except ValueError:
            valid = ", ".join(member.value for member in cls)
            raise ValueError(f"unknown resource {name!r}; valid resources: {valid}") from None

    def __str__(self) -> str:
        return self.value


_GPU_MODELS = frozenset(
    {
        ResourceType.GPU,
        ResourceType.P4,
        ResourceType.T4,
        ResourceType.P100,
        ResourceType.V100,
        ResourceType.A100,
        ResourceType.A100_80GIB,
        ResourceType.H100,
        ResourceType.L4,
    }
)
_TPU_MODELS = frozenset({ResourceType.TPU_V2, ResourceType.TPU_V3, ResourceType.TPU_V4})


class _TypeSet:
    """A named subset of ResourceType usable as `GpuType.V100` and `x in GpuType`."""

    def __init__(self, members: frozenset[ResourceType]) -> None:
        self._members = members
        for member in members:
            setattr(self, member.name, member)

    def __contains__(self, item: object) -> bool:
        return item in self._members

    def __iter__(self) -> Any:
        return iter(sorted(self._members, key=lambda m: m.value))


GpuType = _TypeSet(_GPU_MODELS)
TpuType = _TypeSet(_TPU_MODELS)
AcceleratorType = _TypeSet(_GPU_MODELS | _TPU_MODELS)


class JobRequirements:
    """What one task of a job needs: `JobRequirements(cpu=2, ram=4 * GiB, gpu=1)`.

    `memory` and `ram` are the same thing; at most one accelerator kind may be
    requested; `replicas` asks for several nodes/tasks of a multi-node job.
    """

    def __init__(
        self,
        resources: Mapping[ResourceType | str, float] | None = None,
        *,
        location: str | None = None,
        replicas: int | None = None,
        **kw_resources: float,
    ) -> None:
        self.task_requirements: dict[ResourceType, float] = {}
        self.accelerator: ResourceType | None = None
        self.location = location
        if replicas is not None and (not isinstance(replicas, int) or replicas < 1):
            raise ValueError(f"replicas must be a positive integer, got {replicas!r}")
        self.replicas = replicas
        merged: dict[ResourceType | str, float] = dict(resources or {})
        merged.update(kw_resources)
        for key, value in merged.items():
            resource = ResourceType.parse(key)
            if resource is ResourceType.RAM:
                resource = ResourceType.MEMORY
            if resource is ResourceType.DISK:
                resource = ResourceType.EPHEMERAL_STORAGE
            if not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"resource {resource.value} must be a non-negative number, got {value!r}")
            if resource in AcceleratorType:
                if self.accelerator is not None and self.accelerator is not resource:
                    raise ValueError(
                        f"only one accelerator kind per job: {self.accelerator.value} and {resource.value}"
                    )
                self.accelerator = resource
            self.task_requirements[resource] = value

    @property
    def cpu(self) -> float | None:
        return self.task_requirements.get(ResourceType.CPU)

    @property
    def memory(self) -> float | None:
        return self.task_requirements.get(ResourceType.MEMORY)

    @property
    def accelerator_count(self) -> int:
        if self.accelerator is None:
            return 0
        return int(self.task_requirements[self.accelerator])

    @property
    def gpu_count(self) -> int:
        """GPUs requested (of any model); 0 for CPU-only or TPU jobs."""
        if self.accelerator in GpuType:
            return self.accelerator_count
        return 0

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, JobRequirements)
            and self.task_requirements == other.task_requirements
            and self.location == other.location
            and self.replicas == other.replicas
        )

    def __repr__(self) -> str:
        parts = [f"{k.value}={v!r}" for k, v in self.task_requirements.items()]
        if self.location:
            parts.append(f"location={self.location!r}")
        if self.replicas:
            parts.append(f"replicas={self.replicas}")
        return f"JobRequirements({', '.join(parts)})"
