"""The checks and conversions of `GridEngine`'s fields, run when a launch script builds one.

Split from `gridengine.py` so the executor reads as its fields and the qsub
options they become, while every rule about what Grid Engine can read in a
`#$` line (names of complexes and PEs, object names, single-line options)
lives here. Each raises TypeError/ValueError naming `GridEngine.<field>`, so a
bad value fails at the line that built the executor, not in `qsub`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from lxm3 import xm
from lxm3.schedulers.sge import check_directive_value
from lxm3.xm.resources import GpuType, ResourceType
from lxm3.xm_cluster.executors.base import SingularityOptions, to_walltime_seconds

#: A Grid Engine complex (resource) or parallel environment name.
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
#: What qsub accepts as an account or project ("object name"): printable ASCII
#: without spaces, / : @ \\ * ? (and without the quotes and # no directive can hold).
_OBJECT_NAME = re.compile(r"^[^\s/:@\\*?'\"#]+$", re.ASCII)


def _text(what: str, value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"GridEngine.{what} must be a string, got {value!r}")
    if value != value.strip():
        raise ValueError(f"GridEngine.{what} must not start or end with spaces, got {value!r}")
    return check_directive_value(value, f"GridEngine.{what}")


def _name(what: str, value: Any) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise ValueError(f"GridEngine.{what}: {value!r} is not a Grid Engine resource or PE name")
    return value


def _optional_text(instance: object, attribute: attrs.Attribute, value: object) -> None:
    if value is not None:
        _text(attribute.name, value)


def _object_name_or_none(instance: object, attribute: attrs.Attribute, value: object) -> None:
    if value is None:
        return
    if not isinstance(value, str) or not value.isascii() or not _OBJECT_NAME.match(value):
        raise ValueError(
            f"GridEngine.{attribute.name}: {value!r} is not a name Grid Engine accepts "
            "(printable ASCII without spaces, quotes, #, /, :, @, \\, *, ?)"
        )


def _check_name(instance: object, attribute: attrs.Attribute, value: object) -> None:
    _name(attribute.name, value)


def _positive_int_or_none(instance: object, attribute: attrs.Attribute, value: object) -> None:
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
        raise ValueError(f"GridEngine.{attribute.name} must be a positive integer, got {value!r}")


def _bool(instance: object, attribute: attrs.Attribute, value: object) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"GridEngine.{attribute.name} must be True or False, got {value!r}")


def _optional_bool(instance: object, attribute: attrs.Attribute, value: object) -> None:
    if value is not None:
        _bool(instance, attribute, value)


def _to_walltime(value: Any) -> int | None:
    try:
        return to_walltime_seconds(value)
    except (TypeError, ValueError) as error:
        raise type(error)(f"GridEngine.walltime: {error}") from None


def resource_text(value: str | int | float) -> str:
    """A `-l` value as qsub reads it: whole numbers without `.0` (`8 * xm.GB` -> `8000000000`)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _to_resources(value: Any) -> dict[str, str | int | float]:
    """Checks each `-l` request; values stay as given (lxm3 0.4 scripts compare and edit them)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(f"GridEngine.resources must be a dict of complex -> value, got {value!r}")
    result: dict[str, str | int | float] = {}
    for key, item in value.items():
        if isinstance(item, bool) or not isinstance(item, (str, int, float)):
            raise TypeError(f"GridEngine.resources[{key!r}] must be a string or number, got {item!r}")
        text = resource_text(item)
        if any(ch.isspace() for ch in text):
            raise ValueError(f"GridEngine.resources[{key!r}] must not contain spaces, got {text!r}")
        check_directive_value(text, f"GridEngine.resources[{key!r}]")
        result[_name(f"resources key {key!r}", key)] = item
    return result


def _to_parallel_environments(value: Any) -> dict[str, int]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(f"GridEngine.parallel_environments must be a dict of PE name -> slots, got {value!r}")
    if len(value) > 1:
        raise ValueError(f"GridEngine.parallel_environments: a job runs in one PE, got {sorted(value)}")
    result = {}
    for key, slots in value.items():
        if isinstance(slots, float) and slots.is_integer():
            slots = int(slots)
        if isinstance(slots, bool) or not isinstance(slots, int) or slots < 0:
            raise ValueError(
                f"GridEngine.parallel_environments[{key!r}] must be a whole number of slots, got {slots!r}"
            )
        result[_name("parallel_environments", key)] = slots
    return result


def _to_strings(field: str, value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, Sequence):
        raise TypeError(f"GridEngine.{field} must be a list of strings, got {value!r}")
    items = []
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise TypeError(f"GridEngine.{field} must be a list of non-empty strings, got {item!r}")
        if "\n" in item or "\r" in item or "\0" in item:
            raise ValueError(f"GridEngine.{field} items must be single lines, got {item!r}")
        items.append(item.strip())
    return items


def _modules(value: Any) -> list[str]:
    return _to_strings("modules", value)


def _extra_directives(value: Any) -> list[str]:
    # lxm3 0.4 accepted whole lines (`"#$ -l ssd=1"`) as well as bare options.
    return [strip_marker(item, "#$") for item in _to_strings("extra_directives", value)]


def strip_marker(line: str, marker: str) -> str:
    """`"#$ -l ssd=1"` -> `"-l ssd=1"` (the marker is added back when rendering)."""
    return line[len(marker) :].strip() if line.startswith(marker) else line


def _skip_directives(value: Any) -> list[str]:
    return _to_strings("skip_directives", value)


def _to_memory_resources(value: Any) -> list[str]:
    if isinstance(value, str):
        value = (value,)
    if not isinstance(value, Sequence):
        raise TypeError(f"GridEngine.memory_resources must be a list of complex names, got {value!r}")
    return [_name("memory_resources", item) for item in value]


def _check_extra_directives(instance: object, attribute: attrs.Attribute, value: list[str]) -> None:
    for item in value:
        if not item.startswith("-"):
            raise ValueError(
                f"GridEngine.extra_directives items are raw qsub options such as '-l ssd=1', got {item!r}"
            )


def _check_singularity(instance: object, attribute: attrs.Attribute, value: object) -> None:
    if value is not None and not isinstance(value, SingularityOptions):
        raise TypeError(
            f"GridEngine.{attribute.name} must be an xm_cluster.SingularityOptions, got {value!r}"
        )


def _check_log_directory(instance: object, attribute: attrs.Attribute, value: object) -> None:
    if value is None:
        return
    text = _text(attribute.name, value)
    if not (text.startswith("/") or text.startswith("~/") or text.startswith("$HOME/")):
        raise ValueError(f"GridEngine.log_directory must be absolute or start with '~/', got {text!r}")


def _check_requirements(instance: object, attribute: attrs.Attribute, value: object) -> None:
    if not isinstance(value, xm.JobRequirements):
        raise TypeError(f"GridEngine.{attribute.name} must be an xm.JobRequirements, got {value!r}")
    for resource in value.task_requirements:
        if resource in GpuType and resource is not ResourceType.GPU:
            raise ValueError(
                f"GridEngine.requirements: {resource.name.lower()} names a GPU model, which Grid Engine has no standard "
                f"resource for; ask for gpu={value.task_requirements[resource]:g} and pick the model with "
                "resources={...} (your site's GPU-type complex)"
            )
        if resource not in (ResourceType.CPU, ResourceType.MEMORY, ResourceType.GPU):
            raise ValueError(
                f"GridEngine.requirements: {resource.name.lower()} has no portable Grid Engine form; "
                "request it through resources={...}"
            )
    if value.location:
        raise ValueError("GridEngine.requirements: location is not supported; use queue=... instead")
    if value.replicas and value.replicas > 1:
        raise ValueError(
            "GridEngine.requirements: replicas is not supported; request slots with parallel_environments={'mpi': N}"
        )
