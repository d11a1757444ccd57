"""The Grid Engine executor: run on an SGE cluster, as a `qsub -t` array job per sweep.

    executor = xm_cluster.GridEngine(
        requirements=xm.JobRequirements(cpu=4, ram=8 * xm.GiB, gpu=1),
        walltime="2:00:00",
        queue="gpu.q",
        max_parallel_tasks=10,     # at most 10 tasks of the sweep at once (-tc 10)
    )

Every value is checked here, when the launch script builds the executor, so a
typo, a negative number or a value Grid Engine cannot read in a `#$` line fails
at that line rather than in `qsub` on the cluster. The job name, output paths
and array range come from the job, in `lxm3.schedulers.sge`.

How `requirements` map to Grid Engine (which counts resources PER SLOT):

- `cpu=N` (N > 1) -> `-pe <parallel_environment> N` (default PE "smp"); the
  job then has N slots. `parallel_environments={"mpi": 16}` names the PE and
  slots directly instead (one PE per job, as qsub allows).
- `memory`/`ram` is what the whole task needs. Grid Engine multiplies a
  memory request by the job's slots, so lxm3 divides it: `cpu=4, ram=8 GiB`
  becomes `-l h_vmem=2G` (4 slots x 2G = 8G). Which complexes are set is the
  `memory_resources` field: `["h_vmem"]` (a hard limit, the default),
  `["mem_free"]` (a scheduling hint), both, or `[]` for none.
- `gpu=N` -> `-l <gpu_resource>=N` (default complex "gpu"), as given: if your
  site's GPU complex is a per-slot consumable, a job with S slots asks for S x N.
  Named GPU models (`a100=1`) have no standard Grid Engine form; request the
  count with `gpu=` and the model through `resources` (e.g. `{"gpu_type": "a100"}`).
- TPUs, `disk`, `location` and `replicas` have no portable Grid Engine form and
  are refused; use `resources`, `queue` or `parallel_environments`.
"""

from __future__ import annotations

import datetime
import math
from typing import Any

import attrs

from lxm3 import xm
from lxm3.schedulers.base import JobDirectives
from lxm3.schedulers.sge import Directive
from lxm3.xm_cluster.after_files import to_after_files
from lxm3.xm_cluster.executors import throttle
from lxm3.xm_cluster.executors.base import (
    DockerOptions,
    SingularityOptions,
    format_hms,
    format_memory,
    ignored_docker_options,
    validated_fields,
)
from lxm3.xm_cluster.executors.gpu import wants_gpu
from lxm3.xm_cluster.executors.gridengine_fields import (  # noqa: F401 - resource_text, strip_marker re-exported
    _bool,
    _check_extra_directives,
    _check_log_directory,
    _check_name,
    _check_requirements,
    _check_singularity,
    _extra_directives,
    _modules,
    _object_name_or_none,
    _optional_bool,
    _optional_text,
    _positive_int_or_none,
    _skip_directives,
    _to_memory_resources,
    _to_parallel_environments,
    _to_resources,
    _to_walltime,
    resource_text,
    strip_marker,
)


class GridEngineSpec(xm.ExecutorSpec):
    """Package for running on a Grid Engine cluster."""


@validated_fields
@attrs.frozen
class GridEngine(xm.Executor):
    """Runs tasks as a Grid Engine array job; `GridEngine(requirements, walltime=...)` as in lxm3 0.4.

    - `requirements`: cpu, memory and gpu, mapped as the module docstring says.
    - `resources`: any other `-l complex=value` (`{"scratch": "10G"}`).
    - `parallel_environments`: `{pe_name: slots}` -> `-pe pe_name slots`.
    - `walltime`: seconds, a `timedelta`, or `"[D-]HH:MM:SS"` -> `-l h_rt=`.
    - `queue` (`-q`), `reserved` (`-R y|n`), `project` (`-P`), `account` (`-A`),
      `shell` (`-S`, default /bin/bash): the usual qsub options.
    - `log_directory`: where Grid Engine writes the job script's own output
      (`<name>.o<job>.<task>`; default: the job's `logs/`); task output always
      goes to the job's `logs/<task>.out/.err`. `merge_output` (default True)
      puts stderr in the same file (`-j y`).
    - `modules`: `module load` lines run before the task.
    - `max_parallel_tasks`: at most this many tasks of the sweep at once (`-tc`).
    - `extra_directives`: raw qsub options written as given (`"-l ssd=true"`);
      `skip_directives`: prefixes of directives to leave out, matched on whole
      words (`"-l h_vmem"` drops `-l h_vmem=2G`, `"-pe"` drops the PE request).
    - `parallel_environment`, `memory_resources`, `gpu_resource`: the names
      your site uses for the PE, memory and GPU complexes.
    - `cluster`: which `[[clusters]]` entry of the config to submit to.
    """

    # Positional in lxm3 0.4's order (requirements .. docker_options); lxm3's own fields are keyword-only.
    requirements: xm.JobRequirements = attrs.field(factory=xm.JobRequirements, validator=_check_requirements)
    resources: dict[str, str | int | float] = attrs.field(factory=dict, converter=_to_resources)
    parallel_environments: dict[str, int] = attrs.field(factory=dict, converter=_to_parallel_environments)
    walltime: int | None = attrs.field(default=None, converter=_to_walltime)
    queue: str | None = attrs.field(default=None, validator=_optional_text)
    reserved: bool | None = attrs.field(default=None, validator=_optional_bool)
    log_directory: str | None = attrs.field(default=None, validator=_check_log_directory)
    merge_output: bool = attrs.field(default=True, validator=_bool)
    shell: str | None = attrs.field(default="/bin/bash", validator=_optional_text)
    project: str | None = attrs.field(default=None, validator=_object_name_or_none)
    account: str | None = attrs.field(default=None, validator=_object_name_or_none)
    modules: list[str] = attrs.field(factory=list, converter=_modules)
    max_parallel_tasks: int | None = attrs.field(default=None, validator=_positive_int_or_none)
    #: The same limit under Slurm's and Local's name (see executors/throttle.py).
    max_parallel: int | None = attrs.field(
        default=None, validator=_positive_int_or_none, kw_only=True, repr=False
    )
    extra_directives: list[str] = attrs.field(
        factory=list, converter=_extra_directives, validator=_check_extra_directives
    )
    skip_directives: list[str] = attrs.field(factory=list, converter=_skip_directives)
    singularity_options: SingularityOptions | None = attrs.field(default=None, validator=_check_singularity)
    docker_options: DockerOptions | None = attrs.field(default=None, validator=ignored_docker_options)
    parallel_environment: str = attrs.field(default="smp", validator=_check_name, kw_only=True)
    memory_resources: list[str] = attrs.field(
        factory=lambda: ["h_vmem"], converter=_to_memory_resources, kw_only=True
    )
    gpu_resource: str = attrs.field(default="gpu", validator=_check_name, kw_only=True)
    cluster: str | None = attrs.field(default=None, validator=_optional_text, kw_only=True)
    #: Globs in the work dir copied to the task's output dir when it ends (see after_files.py).
    after_files: tuple[str, ...] = attrs.field(default=(), converter=to_after_files, kw_only=True)
    #: Tasks of a failed host run again (`-r y`).
    requeue: bool = attrs.field(default=False, kw_only=True)
    #: `-notify`: SIGUSR1 (before a suspend) and SIGUSR2 (before a kill, e.g. walltime) reach the
    #: program through the runner, the queue's `notify` time ahead.
    notify: bool = attrs.field(default=False, kw_only=True)

    def __attrs_post_init__(self) -> None:
        throttle.reconcile(self)

    @classmethod
    def Spec(cls) -> GridEngineSpec:  # noqa: N802 - XManager's public name
        return GridEngineSpec()

    @property
    def walltime_timedelta(self) -> datetime.timedelta | None:
        return None if self.walltime is None else datetime.timedelta(seconds=self.walltime)

    @property
    def slots(self) -> int:
        """Slots per task: the PE's, `ceil(cpu)`, else 1."""
        if self.parallel_environments:
            return max(1, next(iter(self.parallel_environments.values())))
        cpu = self.requirements.cpu
        return max(1, math.ceil(cpu)) if cpu else 1

    def job_directives(self) -> JobDirectives:
        """What the Grid Engine scheduler module renders for this executor."""
        return JobDirectives(
            requirements=tuple(self.requirement_directives()),
            log_directory=self.log_directory,
            merge_output=self.merge_output,
            max_parallel=self.max_parallel_tasks,
            modules=tuple(self.modules),
            extra_directives=tuple(self.extra_directives),
            skip_directives=tuple(self.skip_directives),
        )

    def requirement_directives(self) -> list[Directive]:
        """qsub options (as argument tuples) from `requirements` and the typed fields.

        The job-specific ones (`-N`, `-o`, `-t`, `-tc`) are added by the scheduler.
        """
        directives: list[Directive] = []
        if self.requeue:
            directives.append(("-r", "y"))
        if self.notify:
            directives.append(("-notify",))
        if self.shell is not None:
            directives.append(("-S", self.shell))
        if self.queue is not None:
            directives.append(("-q", self.queue))
        # An explicit `resources` entry (or PE) wins over the value derived from
        # requirements/walltime, as on Slurm: lxm3 0.4 scripts set h_vmem, h_rt or gpu there.
        explicit = set(self.resources)
        environments = {name: slots for name, slots in self.parallel_environments.items() if slots > 0}
        if environments:
            directives.extend(("-pe", name, str(slots)) for name, slots in environments.items())
        elif self.slots > 1:
            directives.append(("-pe", self.parallel_environment, str(self.slots)))
        if self.walltime is not None and "h_rt" not in explicit:
            directives.append(("-l", f"h_rt={format_hms(self.walltime)}"))
        memory = self.requirements.memory
        if memory:
            per_slot = format_memory(memory / self.slots)
            directives.extend(
                ("-l", f"{name}={per_slot}") for name in self.memory_resources if name not in explicit
            )
        if self.requirements.gpu_count and self.gpu_resource not in explicit:
            directives.append(("-l", f"{self.gpu_resource}={self.requirements.gpu_count}"))
        directives.extend(
            ("-l", f"{name}={resource_text(value)}")
            for name, value in self.resources.items()
            if value not in (None, "", 0, False)  # lxm3 0.4 left out empty requests (`{"gpu": 0}`)
        )
        reserved = self.reserved
        if reserved is None and (environments or self.slots > 1 or wants_gpu(self)):
            reserved = True  # as lxm3 0.4: a parallel or GPU job reserves, or large jobs starve
        if reserved is not None:
            directives.append(("-R", "y" if reserved else "n"))
        if self.project is not None:
            directives.append(("-P", self.project))
        if self.account is not None:
            directives.append(("-A", self.account))
        return directives


def _gridengine_target(executor: Any, config: Any) -> Any:
    from lxm3.schedulers.sge import GridEngineScheduler
    from lxm3.xm_cluster.cluster_target import cluster_target

    return cluster_target("sge", lambda cluster: GridEngineScheduler(), executor, config)


def _register() -> None:
    from lxm3.xm_cluster import targets

    targets.register_executor(GridEngine, _gridengine_target)


_register()
