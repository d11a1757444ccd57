"""The vocabulary of resources: kinds, accelerator families, amounts, topologies.

Launch scripts name resources as XManager does (`xm.ResourceType.V100`,
`ResourceType["cpu"]`, `xm.GpuType`, `xm.Topology("4x4")`); the numeric enum
values are XManager's, so `GpuType(17)` is the V100 there and here. Every
scheduler module reads the same `JobRequirements` (lxm3/xm/requirements.py)
built from these names, so one launch script targets Slurm, Grid Engine and
the local machine alike.
"""

from __future__ import annotations

import enum
import functools
import operator
import re
from collections.abc import Iterable, Iterator, MutableMapping
from typing import Any, Union

from lxm3.xm.compute_units import (  # noqa: F401 - re-exported for `from lxm3.xm.resources import GiB`
    GB,
    KB,
    MB,
    PB,
    TB,
    Day,
    GiB,
    Hr,
    KiB,
    MiB,
    Min,
    PiB,
    Sec,
    TiB,
    vCPU,
)


class UnknownResourceError(KeyError, ValueError):
    """A resource (or tier) name that does not exist.

    A `KeyError` as in XManager (`ResourceType["upc"]`), and a `ValueError` so
    code that validates constructor input with `except ValueError` catches it.
    """

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else "unknown resource"


class _CaseInsensitiveEnumMeta(enum.EnumMeta):
    """`ResourceType["cpu"]`, `["Cpu"]` and `["CPU"]` all find `ResourceType.CPU`."""

    def __getitem__(cls, name: Any) -> Any:
        if isinstance(name, cls):
            return name
        try:
            return super().__getitem__(str(name).upper())
        except KeyError:
            valid = ", ".join(member.lower() for member in cls.__members__)
            raise UnknownResourceError(f"Unknown {cls.__name__} {name!r}; valid names: {valid}") from None


class ResourceType(enum.Enum, metaclass=_CaseInsensitiveEnumMeta):
    """A countable resource: CPUs, memory, disk, one kind of accelerator.

    Aliases share a member: `RAM` is `MEMORY`, `DISK` is `EPHEMERAL_STORAGE`,
    `LOCAL_GPU` is `GPU` (any GPU model; Slurm renders `--gres=gpu:N`).
    """

    CPU = 100002  # in vCPUs
    MEMORY = 39  # in bytes
    RAM = 39
    EPHEMERAL_STORAGE = 100003  # in bytes
    DISK = 100003

    GPU = 100006
    LOCAL_GPU = 100006
    P4 = 21
    T4 = 22
    P100 = 14
    V100 = 17
    A100 = 46
    A100_80GIB = 66
    # Models XManager's public enum lacks; numbered apart from its codes.
    H100 = 900001
    L4 = 900002

    TPU_V2 = 3
    TPU_V3 = 16
    TPU_V4 = 900003

    def __str__(self) -> str:
        return self.name

    @classmethod
    def parse(cls, name: str | ResourceType) -> ResourceType:
        """Case-insensitive lookup by name; the error lists the valid names."""
        return cls[name]  # type: ignore[no-any-return]


class ServiceTier(enum.Enum, metaclass=_CaseInsensitiveEnumMeta):
    """Availability a job asks for (XManager's tiers; HPC schedulers ignore it)."""

    PROD = 200
    BATCH = 100
    FREEBIE = 25


class Architecture(enum.Enum, metaclass=_CaseInsensitiveEnumMeta):
    """The CPU architecture a job needs (`JobRequirements(architecture=...)`)."""

    X86_64 = "x86_64"
    ARM64 = "arm64"


class _EnumSubsetMeta(type):
    """Makes a class act as a subset of ResourceType: `GpuType.V100`, `x in GpuType`."""

    _members: frozenset[ResourceType]

    def __getitem__(cls, name: str) -> ResourceType:
        resource: ResourceType = ResourceType[name]
        if resource not in cls._members:
            raise AttributeError(f"type object '{cls.__name__}' has no attribute '{name}'")
        return resource

    def __iter__(cls) -> Iterator[ResourceType]:
        return iter(sorted(cls._members, key=lambda member: member.name))

    def __contains__(cls, item: object) -> bool:
        return item in cls._members

    def __len__(cls) -> int:
        return len(cls._members)


def _enum_subset(class_name: str, members: Iterable[ResourceType]) -> Any:
    """A class whose attributes are the given ResourceType members (the same objects)."""
    chosen = frozenset(members)

    def new(cls: type, value: int) -> ResourceType:
        resource = ResourceType(value)
        if resource not in chosen:
            raise ValueError(f"{value} is not a valid {class_name}")
        return resource

    namespace: dict[str, Any] = {name: m for name, m in ResourceType.__members__.items() if m in chosen}
    namespace.update(
        {"_members": chosen, "__new__": new, "__doc__": f"The {class_name} subset of ResourceType."}
    )
    return _EnumSubsetMeta(class_name, (), namespace)


GpuType = _enum_subset(
    "GpuType",
    [
        ResourceType.GPU,
        ResourceType.P4,
        ResourceType.T4,
        ResourceType.P100,
        ResourceType.V100,
        ResourceType.A100,
        ResourceType.A100_80GIB,
        ResourceType.H100,
        ResourceType.L4,
    ],
)
TpuType = _enum_subset("TpuType", [ResourceType.TPU_V2, ResourceType.TPU_V3, ResourceType.TPU_V4])
AcceleratorType = _enum_subset("AcceleratorType", [*GpuType, *TpuType])


class ResourceDict(MutableMapping[ResourceType, float]):
    """Amounts per resource, with `+` and scalar `*` for summing requirements."""

    def __init__(self, initial: Iterable[tuple[ResourceType, float]] = ()) -> None:
        self._amounts: dict[ResourceType, float] = dict(initial)

    def __getitem__(self, key: ResourceType) -> float:
        return self._amounts[key]

    def __setitem__(self, key: ResourceType, value: float) -> None:
        self._amounts[key] = value

    def __delitem__(self, key: ResourceType) -> None:
        del self._amounts[key]

    def __iter__(self) -> Iterator[ResourceType]:
        return iter(self._amounts)

    def __len__(self) -> int:
        return len(self._amounts)

    def __str__(self) -> str:
        """`CPU: 4.0, MEMORY: 1073741824.0, V100: 8`, sorted for stable output."""
        return ", ".join(sorted(f"{key}: {value}" for key, value in self._amounts.items()))

    def __repr__(self) -> str:
        return f"ResourceDict({self._amounts!r})"

    def __add__(self, other: ResourceDict) -> ResourceDict:
        result = ResourceDict(self.items())
        for key, value in other.items():
            result[key] = result.get(key, 0) + value
        return result

    def __mul__(self, factor: float) -> ResourceDict:
        return ResourceDict((key, value * factor) for key, value in self.items())

    __rmul__ = __mul__


class InvalidTpuTopologyError(ValueError):
    """A topology string that is not of the form `N`, `NxM`, `NxMxK[_twisted]`."""


_TOPOLOGY = re.compile(r"(\d+x?)+(_(un)?twisted)?")


class Topology:
    """How accelerators are interconnected: `"4"` (four on one host), `"4x2"`, `"4x4_twisted"`."""

    def __init__(self, name: str) -> None:
        if not isinstance(name, str) or not _TOPOLOGY.fullmatch(name):
            raise InvalidTpuTopologyError(f"Invalid TPU topology: {name}.")
        self._name = name
        self.dimensions: list[int] = [int(part) for part in name.split("_")[0].split("x")]

    @property
    def name(self) -> str:
        return self._name

    @property
    def chip_count(self) -> int:
        """Accelerators in the topology (the product of its dimensions)."""
        return functools.reduce(operator.mul, self.dimensions)

    def __repr__(self) -> str:
        return f"xm.Topology({self._name!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Topology) and self._name == other._name

    def __hash__(self) -> int:
        return hash(self._name)


ResourceQuantity = Union[int, float, str, Topology]

# JobRequirements lives in its own module (it is large); imported last so
# `lxm3.xm.resources.JobRequirements` works as in XManager.
from lxm3.xm.requirements import JobRequirements  # noqa: E402

__all__ = [
    "AcceleratorType",
    "Architecture",
    "GpuType",
    "InvalidTpuTopologyError",
    "JobRequirements",
    "ResourceDict",
    "ResourceQuantity",
    "ResourceType",
    "ServiceTier",
    "Topology",
    "TpuType",
    "UnknownResourceError",
]
