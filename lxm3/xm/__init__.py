"""lxm3's implementation of the public XManager launch API (`from lxm3 import xm`).

Launch scripts written for XManager or lxm3 0.4 use these names unchanged;
the backend (`lxm3.xm_cluster`) supplies the concrete experiment.
"""

from lxm3.xm.args import SequentialArgs, UserArgs, merge_args
from lxm3.xm.core import (
    AuxiliaryUnitRole,
    Experiment,
    ExperimentUnit,
    ExperimentUnitRole,
    UnitFuture,
    WorkUnit,
    WorkUnitRole,
)
from lxm3.xm.errors import (
    ExperimentUnitError,
    ExperimentUnitFailedError,
    ExperimentUnitNotCompletedError,
    NotFoundError,
    WorkUnitError,
    WorkUnitFailedError,
    WorkUnitNotCompletedError,
)
from lxm3.xm.executables import Binary, CommandList, Container, Dockerfile, ModuleName, PythonContainer
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
)
from lxm3.xm.resources import (
    GB,
    KB,
    MB,
    TB,
    AcceleratorType,
    Day,
    GiB,
    GpuType,
    Hr,
    JobRequirements,
    KiB,
    MiB,
    Min,
    ResourceType,
    Sec,
    TiB,
    TpuType,
)
from lxm3.xm.shell_safe import ShellSafeArg
from lxm3.xm.status import ExperimentUnitStatus, TaskState, TaskStatus
from lxm3.xm.utils import run_in_asyncio_loop

__all__ = [
    "GB", "KB", "MB", "TB", "AcceleratorType", "AuxiliaryUnitRole", "Binary", "CommandList",
    "Constraint", "Container", "Day", "Dockerfile", "Executable", "ExecutableSpec", "Executor",
    "ExecutorSpec", "Experiment", "ExperimentUnit", "ExperimentUnitError", "ExperimentUnitFailedError",
    "ExperimentUnitNotCompletedError", "ExperimentUnitRole", "ExperimentUnitStatus", "GiB", "GpuType",
    "Hr", "Job", "JobConfig", "JobGeneratorType", "JobGroup", "JobRequirements", "JobType", "KiB",
    "MiB", "Min", "ModuleName", "NotFoundError", "Packageable", "PythonContainer", "ResourceType",
    "Sec", "SequentialArgs", "ShellSafeArg", "TaskState", "TaskStatus", "TiB", "TpuType", "UnitFuture",
    "UserArgs", "WorkUnit", "WorkUnitError", "WorkUnitFailedError", "WorkUnitNotCompletedError",
    "WorkUnitRole", "merge_args", "run_in_asyncio_loop",
]
