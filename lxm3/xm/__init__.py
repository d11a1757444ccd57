"""lxm3's implementation of the public XManager launch API (`from lxm3 import xm`).

Launch scripts written for XManager or lxm3 0.4 use these names unchanged;
the backend (`lxm3.xm_cluster`) supplies the concrete experiment. Specs the
backend cannot run (Bazel ones, Dockerfile) exist so scripts import and
build, and are refused when packaged.

Names are imported on first use (PEP 562): a submodule such as `lxm3.xm.status`
(which `lxm3 list` and `lxm3 status` need) must not import asyncio and every
other XManager name with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lxm3.lazy import LazyNames

# Eager (small, stdlib only): importing it defines XManager's absl flag, which a launcher's
# flags may set, before `app.run` parses them.
from lxm3.xm.args import SequentialArgs, UserArgs, merge_args

if TYPE_CHECKING:
    from lxm3.xm import job_operators, utils
    from lxm3.xm.awaitables import UnitFuture, WorkUnitCompletedAwaitable
    from lxm3.xm.compute_units import GB, KB, MB, PB, TB, Day, GiB, Hr, KiB, MiB, Min, PiB, Sec, TiB, vCPU
    from lxm3.xm.core import Experiment
    from lxm3.xm.dependencies import Condition, Dependency, DependencyError
    from lxm3.xm.errors import (
        ExperimentUnitError,
        ExperimentUnitFailedError,
        ExperimentUnitNotCompletedError,
        NotFoundError,
        ReloadError,
        WorkUnitError,
        WorkUnitFailedError,
        WorkUnitNotCompletedError,
    )
    from lxm3.xm.executables import (
        BazelBinary,
        BazelContainer,
        Binary,
        BinaryDependency,
        CommandList,
        Container,
        Dockerfile,
        ModuleName,
        PythonContainer,
    )
    from lxm3.xm.job_blocks import (
        Constraint,
        Executable,
        ExecutableSpec,
        Executor,
        ExecutorSpec,
        Job,
        JobConfig,
        JobGeneratorType,
        JobGroup,
        JobType,
        Packageable,
        get_args_for_all_jobs,
    )
    from lxm3.xm.metadata_context import ContextAnnotations, MetadataContext
    from lxm3.xm.packagables import (
        bazel_binary,
        bazel_container,
        binary,
        container,
        dockerfile_container,
        python_container,
    )
    from lxm3.xm.resources import (
        AcceleratorType,
        Architecture,
        GpuType,
        InvalidTpuTopologyError,
        JobRequirements,
        ResourceDict,
        ResourceQuantity,
        ResourceType,
        ServiceTier,
        Topology,
        TpuType,
    )
    from lxm3.xm.roles import (
        AuxiliaryUnitJob,
        AuxiliaryUnitRole,
        ExperimentUnitRole,
        Importance,
        LaunchedJob,
        WorkUnitRole,
    )
    from lxm3.xm.shell_safe import ShellSafeArg
    from lxm3.xm.status import ExperimentUnitStatus, TaskState, TaskStatus
    from lxm3.xm.units import ExperimentUnit, WorkUnit
    from lxm3.xm.utils import run_in_asyncio_loop

#: public name -> (module, attribute in it; None: the module itself)
_EXPORTS: dict[str, tuple[str, str | None]] = {
    "job_operators": ("lxm3.xm.job_operators", None),
    "utils": ("lxm3.xm.utils", None),
    "UnitFuture": ("lxm3.xm.awaitables", "UnitFuture"),
    "WorkUnitCompletedAwaitable": ("lxm3.xm.awaitables", "WorkUnitCompletedAwaitable"),
    "GB": ("lxm3.xm.compute_units", "GB"),
    "KB": ("lxm3.xm.compute_units", "KB"),
    "MB": ("lxm3.xm.compute_units", "MB"),
    "PB": ("lxm3.xm.compute_units", "PB"),
    "TB": ("lxm3.xm.compute_units", "TB"),
    "Day": ("lxm3.xm.compute_units", "Day"),
    "GiB": ("lxm3.xm.compute_units", "GiB"),
    "Hr": ("lxm3.xm.compute_units", "Hr"),
    "KiB": ("lxm3.xm.compute_units", "KiB"),
    "MiB": ("lxm3.xm.compute_units", "MiB"),
    "Min": ("lxm3.xm.compute_units", "Min"),
    "PiB": ("lxm3.xm.compute_units", "PiB"),
    "Sec": ("lxm3.xm.compute_units", "Sec"),
    "TiB": ("lxm3.xm.compute_units", "TiB"),
    "vCPU": ("lxm3.xm.compute_units", "vCPU"),
    "Experiment": ("lxm3.xm.core", "Experiment"),
    "Condition": ("lxm3.xm.dependencies", "Condition"),
    "Dependency": ("lxm3.xm.dependencies", "Dependency"),
    "DependencyError": ("lxm3.xm.dependencies", "DependencyError"),
    "ExperimentUnitError": ("lxm3.xm.errors", "ExperimentUnitError"),
    "ExperimentUnitFailedError": ("lxm3.xm.errors", "ExperimentUnitFailedError"),
    "ExperimentUnitNotCompletedError": ("lxm3.xm.errors", "ExperimentUnitNotCompletedError"),
    "NotFoundError": ("lxm3.xm.errors", "NotFoundError"),
    "ReloadError": ("lxm3.xm.errors", "ReloadError"),
    "WorkUnitError": ("lxm3.xm.errors", "WorkUnitError"),
    "WorkUnitFailedError": ("lxm3.xm.errors", "WorkUnitFailedError"),
    "WorkUnitNotCompletedError": ("lxm3.xm.errors", "WorkUnitNotCompletedError"),
    "BazelBinary": ("lxm3.xm.executables", "BazelBinary"),
    "BazelContainer": ("lxm3.xm.executables", "BazelContainer"),
    "Binary": ("lxm3.xm.executables", "Binary"),
    "BinaryDependency": ("lxm3.xm.executables", "BinaryDependency"),
    "CommandList": ("lxm3.xm.executables", "CommandList"),
    "Container": ("lxm3.xm.executables", "Container"),
    "Dockerfile": ("lxm3.xm.executables", "Dockerfile"),
    "ModuleName": ("lxm3.xm.executables", "ModuleName"),
    "PythonContainer": ("lxm3.xm.executables", "PythonContainer"),
    "Constraint": ("lxm3.xm.job_blocks", "Constraint"),
    "Executable": ("lxm3.xm.job_blocks", "Executable"),
    "ExecutableSpec": ("lxm3.xm.job_blocks", "ExecutableSpec"),
    "Executor": ("lxm3.xm.job_blocks", "Executor"),
    "ExecutorSpec": ("lxm3.xm.job_blocks", "ExecutorSpec"),
    "Job": ("lxm3.xm.job_blocks", "Job"),
    "JobConfig": ("lxm3.xm.job_blocks", "JobConfig"),
    "JobGeneratorType": ("lxm3.xm.job_blocks", "JobGeneratorType"),
    "JobGroup": ("lxm3.xm.job_blocks", "JobGroup"),
    "JobType": ("lxm3.xm.job_blocks", "JobType"),
    "Packageable": ("lxm3.xm.job_blocks", "Packageable"),
    "get_args_for_all_jobs": ("lxm3.xm.job_blocks", "get_args_for_all_jobs"),
    "ContextAnnotations": ("lxm3.xm.metadata_context", "ContextAnnotations"),
    "MetadataContext": ("lxm3.xm.metadata_context", "MetadataContext"),
    "bazel_binary": ("lxm3.xm.packagables", "bazel_binary"),
    "bazel_container": ("lxm3.xm.packagables", "bazel_container"),
    "binary": ("lxm3.xm.packagables", "binary"),
    "container": ("lxm3.xm.packagables", "container"),
    "dockerfile_container": ("lxm3.xm.packagables", "dockerfile_container"),
    "python_container": ("lxm3.xm.packagables", "python_container"),
    "AcceleratorType": ("lxm3.xm.resources", "AcceleratorType"),
    "Architecture": ("lxm3.xm.resources", "Architecture"),
    "GpuType": ("lxm3.xm.resources", "GpuType"),
    "InvalidTpuTopologyError": ("lxm3.xm.resources", "InvalidTpuTopologyError"),
    "JobRequirements": ("lxm3.xm.resources", "JobRequirements"),
    "ResourceDict": ("lxm3.xm.resources", "ResourceDict"),
    "ResourceQuantity": ("lxm3.xm.resources", "ResourceQuantity"),
    "ResourceType": ("lxm3.xm.resources", "ResourceType"),
    "ServiceTier": ("lxm3.xm.resources", "ServiceTier"),
    "Topology": ("lxm3.xm.resources", "Topology"),
    "TpuType": ("lxm3.xm.resources", "TpuType"),
    "AuxiliaryUnitJob": ("lxm3.xm.roles", "AuxiliaryUnitJob"),
    "AuxiliaryUnitRole": ("lxm3.xm.roles", "AuxiliaryUnitRole"),
    "ExperimentUnitRole": ("lxm3.xm.roles", "ExperimentUnitRole"),
    "Importance": ("lxm3.xm.roles", "Importance"),
    "LaunchedJob": ("lxm3.xm.roles", "LaunchedJob"),
    "WorkUnitRole": ("lxm3.xm.roles", "WorkUnitRole"),
    "ShellSafeArg": ("lxm3.xm.shell_safe", "ShellSafeArg"),
    "ExperimentUnitStatus": ("lxm3.xm.status", "ExperimentUnitStatus"),
    "TaskState": ("lxm3.xm.status", "TaskState"),
    "TaskStatus": ("lxm3.xm.status", "TaskStatus"),
    "ExperimentUnit": ("lxm3.xm.units", "ExperimentUnit"),
    "WorkUnit": ("lxm3.xm.units", "WorkUnit"),
    "run_in_asyncio_loop": ("lxm3.xm.utils", "run_in_asyncio_loop"),
}


_LAZY = LazyNames(__name__, _EXPORTS)


def __getattr__(name: str) -> Any:
    return _LAZY.get(name)


def __dir__() -> list[str]:
    return _LAZY.names()


__all__ = [
    "GB",
    "KB",
    "MB",
    "PB",
    "TB",
    "AcceleratorType",
    "Architecture",
    "AuxiliaryUnitJob",
    "AuxiliaryUnitRole",
    "BazelBinary",
    "BazelContainer",
    "Binary",
    "BinaryDependency",
    "CommandList",
    "Condition",
    "Constraint",
    "Container",
    "ContextAnnotations",
    "Day",
    "Dependency",
    "DependencyError",
    "Dockerfile",
    "Executable",
    "ExecutableSpec",
    "Executor",
    "ExecutorSpec",
    "Experiment",
    "ExperimentUnit",
    "ExperimentUnitError",
    "ExperimentUnitFailedError",
    "ExperimentUnitNotCompletedError",
    "ExperimentUnitRole",
    "ExperimentUnitStatus",
    "GiB",
    "GpuType",
    "Hr",
    "Importance",
    "InvalidTpuTopologyError",
    "Job",
    "JobConfig",
    "JobGeneratorType",
    "JobGroup",
    "JobRequirements",
    "JobType",
    "KiB",
    "LaunchedJob",
    "MetadataContext",
    "MiB",
    "Min",
    "ModuleName",
    "NotFoundError",
    "Packageable",
    "PiB",
    "PythonContainer",
    "ReloadError",
    "ResourceDict",
    "ResourceQuantity",
    "ResourceType",
    "Sec",
    "SequentialArgs",
    "ServiceTier",
    "ShellSafeArg",
    "TaskState",
    "TaskStatus",
    "TiB",
    "Topology",
    "TpuType",
    "UnitFuture",
    "UserArgs",
    "WorkUnit",
    "WorkUnitCompletedAwaitable",
    "WorkUnitError",
    "WorkUnitFailedError",
    "WorkUnitNotCompletedError",
    "WorkUnitRole",
    "bazel_binary",
    "bazel_container",
    "binary",
    "container",
    "dockerfile_container",
    "get_args_for_all_jobs",
    "job_operators",
    "merge_args",
    "python_container",
    "run_in_asyncio_loop",
    "utils",
    "vCPU",
]
