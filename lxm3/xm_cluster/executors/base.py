"""What all cluster executors share: validation, walltime, container options.

Executors are frozen, keyword-validated config objects: a misspelt field or a
bad value fails at the line of the launch script that built the executor,
with the list of valid fields, not at submit time on the cluster.
"""

from __future__ import annotations

import datetime
import functools
import logging
import math
from collections.abc import Callable
from typing import Any, TypeVar

import attrs

log = logging.getLogger(__name__)
_WARNED_DOCKER: set[str] = set()

C = TypeVar("C", bound=type)


def validated_fields(cls: C) -> C:
    """Makes an unknown keyword raise a TypeError that lists every valid field."""
    original: Callable[..., None] = cls.__init__  # type: ignore[misc]
    valid = [field.name for field in attrs.fields(cls) if field.init]

    @functools.wraps(original)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:  # noqa: N807 - replaces __init__
        unknown = sorted(set(kwargs) - set(valid))
        if unknown:
            raise TypeError(
                f"{cls.__name__} got unknown field(s) {', '.join(unknown)}; valid fields: {', '.join(valid)}"
            )
        original(self, *args, **kwargs)

    cls.__init__ = __init__  # type: ignore[misc]
    return cls


def to_walltime_seconds(value: Any) -> int | None:
    """Walltime as seconds from int seconds, a timedelta, or "[D-]HH:MM:SS"."""
    if value is None:
        return None
    if isinstance(value, datetime.timedelta):
        seconds = int(value.total_seconds())
    elif isinstance(value, bool):
        raise TypeError("walltime must be seconds, a timedelta or 'HH:MM:SS', not a bool")
    elif isinstance(value, (int, float)):
        seconds = int(value)
    elif isinstance(value, str):
        days = 0
        text = value
        if "-" in text:
            day_text, text = text.split("-", 1)
            days = int(day_text)
        parts = [int(part) for part in text.split(":")]
        while len(parts) < 3:
            parts.insert(0, 0)
        hours, minutes, secs = parts
        seconds = ((days * 24 + hours) * 60 + minutes) * 60 + secs
    else:
        raise TypeError(f"walltime must be seconds, a timedelta or 'HH:MM:SS', got {value!r}")
    if seconds <= 0:
        raise ValueError(f"walltime must be positive, got {value!r}")
    return seconds


def format_memory(num_bytes: float) -> str:
    """Bytes in the binary units Slurm and Grid Engine both read: whole GiB as `8G`, else MiB rounded up (`1908M`)."""
    mib = max(1, math.ceil(num_bytes / 1024**2))
    if mib % 1024 == 0:
        return f"{mib // 1024}G"
    return f"{mib}M"


def format_hms(seconds: int) -> str:
    """Seconds as `HH:MM:SS` (hours may exceed 24), as Slurm and SGE both accept."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}"


def _str_dict(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in dict(value or {}).items()}


@validated_fields
@attrs.frozen
class SingularityOptions:
    """Options for running in Singularity/Apptainer: `bind={src: dst}`, extra CLI options."""

    bind: dict[str, str] = attrs.field(factory=dict, converter=_str_dict)
    extra_options: list[str] = attrs.field(factory=list, converter=list)


@validated_fields
@attrs.frozen
class DockerOptions:
    """Options for running in Docker/Podman on the Local executor."""

    volumes: dict[str, str] = attrs.field(factory=dict, converter=_str_dict)
    extra_options: list[str] = attrs.field(factory=list, converter=list)


def ignored_docker_options(instance: object, attribute: attrs.Attribute, value: object) -> None:
    """lxm3 0.4 let every executor take `docker_options`; only Local runs Docker, so say once it is unused."""
    if value is None:
        return
    if not isinstance(value, DockerOptions):
        raise TypeError(
            f"{type(instance).__name__}.{attribute.name} must be an xm_cluster.DockerOptions, got {value!r}"
        )
    name = type(instance).__name__
    if name not in _WARNED_DOCKER:
        _WARNED_DOCKER.add(name)
        log.warning(
            "%s ignores docker_options: Docker runs only on the Local executor "
            "(on a cluster, use SingularityContainer with image_path='docker://...')",
            name,
        )
