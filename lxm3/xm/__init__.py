"""lxm3's implementation of the public XManager launch API (`from lxm3 import xm`).

Launch scripts written for XManager or lxm3 0.4 use these names unchanged;
the backend (`lxm3.xm_cluster`) supplies the concrete experiment. Specs the
backend cannot run (Bazel ones, Dockerfile) exist so scripts import and
build, and are refused when packaged.
"""

from lxm3.xm import job_operators, utils
from lxm3.xm.args import SequentialArgs, UserArgs, merge_args
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
