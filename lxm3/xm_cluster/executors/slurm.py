"""The Slurm executor: run on a Slurm cluster, as an sbatch job array per sweep.

    executor = xm_cluster.Slurm(
        requirements=xm.JobRequirements(cpu=4, ram=8 * xm.GiB, a100=1),
        walltime="2:00:00",
        partition="gpu",
        max_parallel=10,           # at most 10 tasks of the sweep at once (--array=...%10)
    )

Every value is checked here, when the launch script builds the executor, so a
typo or a negative number fails at that line rather than in `sbatch` on the
cluster. The mapping to `#SBATCH` directives lives in `lxm3.schedulers.slurm`.
"""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from lxm3 import xm
from lxm3.schedulers.base import JobDirectives, option_name
from lxm3.xm.resources import GpuType, ResourceType, TpuType
from lxm3.xm_cluster.executors.base import (
    DockerOptions,
    SingularityOptions,
    format_memory,
    ignored_docker_options,
    to_walltime_seconds,
    validated_fields,
)

#: A Slurm long option name, as accepted in `resources` keys and `skip_directives`.
_OPTION_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")


class SlurmSpec(xm.ExecutorSpec):
    """Package for running on a Slurm cluster."""


def _fail(attribute: attrs.Attribute, message: str) -> ValueError:
    return ValueError(f"Slurm.{attribute.name} {message}")


def _check_requirements(instance: object, attribute: attrs.Attribute, value: object) -> None:
    if not isinstance(value, xm.JobRequirements):
        raise TypeError(f"Slurm.{attribute.name} must be an xm.JobRequirements, got {value!r}")
    for resource in value.task_requirements:
        if resource in TpuType:
            raise _fail(attribute, f"asks for {resource.name.lower()}, but Slurm clusters have no TPUs")


def _check_walltime(value: Any) -> int | None:
    try:
        return to_walltime_seconds(value)
    except TypeError as error:
        raise TypeError(f"Slurm.walltime: {error}") from None
    except ValueError as error:
        if isinstance(value, str) and not re.fullmatch(r"(\d+-)?(\d+:){0,2}\d+", value.strip()):
            raise ValueError(
                f"Slurm.walltime must be seconds, a timedelta or '[D-]HH:MM:SS', got {value!r}"
            ) from None
        raise ValueError(f"Slurm.walltime: {error}") from None


def _optional_text(instance: object, attribute: attrs.Attribute, value: object) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        raise TypeError(f"Slurm.{attribute.name} must be a string, got {value!r}")
    if not value or value != value.strip() or "\n" in value or "\r" in value:
        raise _fail(
            attribute, f"must be a non-empty single-line string without surrounding spaces, got {value!r}"
        )


def _positive_int_or_none(instance: object, attribute: attrs.Attribute, value: object) -> None:
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
        raise _fail(attribute, f"must be a positive integer, got {value!r}")


def _bool(instance: object, attribute: attrs.Attribute, value: object) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"Slurm.{attribute.name} must be True or False, got {value!r}")


def _to_resources(value: Any) -> dict[str, str | None]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(f"Slurm.resources must be a dict of option -> value, got {value!r}")
    result: dict[str, str | None] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not _OPTION_NAME.match(option_name(key)):
            raise ValueError(
                f"Slurm.resources: {key!r} is not a Slurm option name (e.g. 'gres', 'constraint')"
            )
        if item is None or item is True:
            result[option_name(key)] = None  # a flag: {"requeue": True} -> --requeue
            continue
        if item is False:
            continue
        if not isinstance(item, (str, int, float)):
            raise TypeError(f"Slurm.resources[{key!r}] must be a string or number, got {item!r}")
        text = str(item)
        if "\n" in text or "\r" in text:
            raise ValueError(f"Slurm.resources[{key!r}] must be a single line, got {text!r}")
        result[option_name(key)] = text
    return result


def _to_lines(field: str, value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, Sequence):
        raise TypeError(f"Slurm.{field} must be a list of strings, got {value!r}")
    lines = []
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise TypeError(f"Slurm.{field} must be a list of non-empty strings, got {item!r}")
        if "\n" in item or "\r" in item:
            raise ValueError(f"Slurm.{field} items must be single lines, got {item!r}")
        lines.append(item.strip())
    return lines


def _modules(value: Any) -> list[str]:
    return _to_lines("modules", value)


def _extra_directives(value: Any) -> list[str]:
    # lxm3 0.4 accepted whole lines (`"#SBATCH --gres=gpu:1"`) as well as bare options.
    lines = _to_lines("extra_directives", value)
    return [line[len("#SBATCH") :].strip() if line.startswith("#SBATCH") else line for line in lines]


def _skip_directives(value: Any) -> list[str]:
    return _to_lines("skip_directives", value)


def _check_extra_directives(instance: object, attribute: attrs.Attribute, value: list[str]) -> None:
    for item in value:
        if not item.startswith("-"):
            raise _fail(attribute, f"items are raw sbatch options such as '--constraint=v100', got {item!r}")


def _check_skip_directives(instance: object, attribute: attrs.Attribute, value: list[str]) -> None:
    for item in value:
        if not _OPTION_NAME.match(option_name(item)):
            raise _fail(attribute, f"items are option names such as 'mem' or '--mem', got {item!r}")


def _check_singularity(instance: object, attribute: attrs.Attribute, value: object) -> None:
    if value is not None and not isinstance(value, SingularityOptions):
        raise TypeError(f"Slurm.{attribute.name} must be an xm_cluster.SingularityOptions, got {value!r}")


@validated_fields
@attrs.frozen
class Slurm(xm.Executor):
    """Runs tasks as a Slurm job array; `Slurm(requirements, walltime=...)` as in lxm3 0.4.

    - `requirements`: cpu -> `--cpus-per-task`, memory/ram -> `--mem`, gpu or a
      named GPU (`a100=2`) -> `--gres=gpu[:a100]:N`, disk -> `--tmp`,
      replicas -> `--nodes`/`--ntasks` (one task per node).
    - `resources`: any other `--key=value` (`{"constraint": "v100"}`); a key
      named here replaces the directive lxm3 derives (e.g. `{"gres": ...}`).
    - `walltime`: seconds, a `timedelta`, or `"[D-]HH:MM:SS"` -> `--time`.
    - `partition`, `qos`, `account`, `exclusive`: the usual sbatch options.
    - `log_directory`: where Slurm writes the job script's own output
      (`slurm-<array>_<index>.out`); task output always goes to the job's
      `logs/<task>.out/.err`.
    - `modules`: `module load` lines run before the task.
    - `extra_directives`: raw sbatch options, written as given
      (`"--constraint=v100"`); `skip_directives`: option names to drop.
    - `max_parallel`: at most this many tasks of the sweep at once (`%N`).
    - `cluster`: which `[[clusters]]` entry of the config to submit to.
    """

    # Positional in lxm3 0.4's order (requirements .. skip_directives); lxm3's own fields are keyword-only.
    requirements: xm.JobRequirements = attrs.field(factory=xm.JobRequirements, validator=_check_requirements)
    resources: dict[str, str | None] = attrs.field(factory=dict, converter=_to_resources)
    walltime: int | None = attrs.field(default=None, converter=_check_walltime)
    singularity_options: SingularityOptions | None = attrs.field(default=None, validator=_check_singularity)
    docker_options: DockerOptions | None = attrs.field(default=None, validator=ignored_docker_options)
    log_directory: str | None = attrs.field(default=None, validator=_optional_text)
    modules: list[str] = attrs.field(factory=list, converter=_modules)
    exclusive: bool = attrs.field(default=False, validator=_bool)
    partition: str | None = attrs.field(default=None, validator=_optional_text)
    extra_directives: list[str] = attrs.field(
        factory=list, converter=_extra_directives, validator=_check_extra_directives
    )
    skip_directives: list[str] = attrs.field(
        factory=list, converter=_skip_directives, validator=_check_skip_directives
    )
    qos: str | None = attrs.field(default=None, validator=_optional_text, kw_only=True)
    account: str | None = attrs.field(default=None, validator=_optional_text, kw_only=True)
    max_parallel: int | None = attrs.field(default=None, validator=_positive_int_or_none, kw_only=True)
    cluster: str | None = attrs.field(default=None, validator=_optional_text, kw_only=True)

    @classmethod
    def Spec(cls) -> SlurmSpec:  # noqa: N802 - XManager's public name
        return SlurmSpec()

    @property
    def walltime_timedelta(self) -> datetime.timedelta | None:
        return None if self.walltime is None else datetime.timedelta(seconds=self.walltime)

    def job_directives(self) -> JobDirectives:
        """What the Slurm scheduler module renders for this executor."""
        return JobDirectives(
            requirements=tuple(self.requirement_directives()),
            resources=tuple(self.resources.items()),
            log_directory=self.log_directory,
            max_parallel=self.max_parallel,
            modules=tuple(self.modules),
            extra_directives=tuple(self.extra_directives),
            skip_directives=tuple(self.skip_directives),
        )

    def requirement_directives(self) -> list[tuple[str, str | None]]:
        """`(option, value)` pairs derived from `requirements` and the typed fields."""
        requirements = self.requirements
        directives: list[tuple[str, str | None]] = []
        if requirements.replicas and requirements.replicas > 1:
            directives.append(("nodes", str(requirements.replicas)))
            directives.append(("ntasks", str(requirements.replicas)))
            directives.append(("ntasks-per-node", "1"))
        if requirements.cpu:
            directives.append(("cpus-per-task", str(math.ceil(requirements.cpu))))
        if requirements.memory:
            directives.append(("mem", format_memory(requirements.memory)))
        disk = requirements.task_requirements.get(ResourceType.EPHEMERAL_STORAGE)
        if disk:
            directives.append(("tmp", format_memory(disk)))
        kind = requirements.accelerator
        if kind is not None and kind in GpuType and requirements.accelerator_count:
            model = "" if kind is ResourceType.GPU else f"{kind.name.lower()}:"
            directives.append(("gres", f"gpu:{model}{requirements.accelerator_count}"))
        if self.walltime is not None:
            directives.append(("time", format_walltime(self.walltime)))
        for name in ("partition", "qos", "account"):
            value = getattr(self, name)
            if value is not None:
                directives.append((name, value))
        if self.exclusive:
            directives.append(("exclusive", None))
        return directives


def format_walltime(seconds: int) -> str:
    """Seconds as `[D-]HH:MM:SS`, a form every Slurm version accepts for `--time`."""
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    clock = f"{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{days}-{clock}" if days else clock


def _slurm_target(executor: Any, config: Any) -> Any:
    from lxm3.schedulers.slurm import SlurmScheduler
    from lxm3.xm_cluster.cluster_target import cluster_target

    return cluster_target(
        "slurm", lambda cluster: SlurmScheduler(cluster_name=cluster.name), executor, config
    )


def _register() -> None:
    from lxm3.xm_cluster import targets

    targets.register_executor(Slurm, _slurm_target)


_register()
