"""XManager's generic executable specs and entrypoints.

`ModuleName` and `CommandList` say how to start the packaged code. The specs
(`Container`, `PythonContainer`, `Dockerfile`, `Binary`, `BazelBinary`,
`BazelContainer`) are XManager's own; a backend accepts the ones it can honour
and rejects the rest when packaging, with an error naming the spec.
"""

from __future__ import annotations

import abc
import os
import re
from collections.abc import Iterable
from typing import Any, NamedTuple

import attrs

from lxm3.xm.job_blocks import ExecutableSpec
from lxm3.xm.utils import resolve_path_relative_to_launcher


def name_from_path(path: str) -> str:
    """A job-name-safe name from a path's last component (`image.tar` -> `image_tar`)."""
    return re.sub(r"\W", "_", os.path.basename(path.rstrip(os.sep)))


def _to_list(values: Iterable[Any]) -> list[Any]:
    return list(values)


class ModuleName(NamedTuple):
    """Run the entrypoint as `python -m <module_name>`."""

    module_name: str


class CommandList(NamedTuple):
    """Run these shell commands; the job's args are appended to the last one."""

    commands: list[str]


class BinaryDependency(abc.ABC):
    """A data dependency packaged with a `Binary`/`BazelBinary` (backend-defined)."""


@attrs.frozen
class Container(ExecutableSpec):
    """A prebuilt container image, e.g. `docker://python:3.11`."""

    image_path: str

    @property
    def name(self) -> str:
        return name_from_path(self.image_path)


@attrs.frozen
class PythonContainer(ExecutableSpec):
    """A Python project (`path`, relative to the launch script) run in an image from `base_image`."""

    entrypoint: ModuleName | CommandList
    path: str = attrs.field(default=".", converter=resolve_path_relative_to_launcher)
    base_image: str | None = None
    docker_instructions: list[str] | None = None
    use_deep_module: bool = False

    @property
    def name(self) -> str:
        return name_from_path(self.path)


def _dockerfile_default(value: str | None) -> str:
    return value or ""


@attrs.frozen
class Dockerfile(ExecutableSpec):
    """An image built from a Dockerfile (default `<path>/Dockerfile`); paths are launcher-relative."""

    path: str = attrs.field(default=".", converter=resolve_path_relative_to_launcher)
    dockerfile: str = attrs.field(default=None, converter=_dockerfile_default)

    def __attrs_post_init__(self) -> None:
        dockerfile = resolve_path_relative_to_launcher(
            self.dockerfile or os.path.join(self.path, "Dockerfile")
        )
        object.__setattr__(self, "dockerfile", dockerfile)  # frozen: set once, at construction

    @property
    def name(self) -> str:
        return name_from_path(self.path)


@attrs.frozen
class Binary(ExecutableSpec):
    """A prebuilt binary on the local disk, with optional data dependencies."""

    path: str
    dependencies: list[BinaryDependency] = attrs.field(factory=list, converter=_to_list)

    @property
    def name(self) -> str:
        return name_from_path(self.path)


@attrs.frozen
class BazelContainer(ExecutableSpec):
    """An image built by a Bazel target (lxm3 does not run Bazel; packaging rejects it)."""

    label: str
    bazel_args: list[str] = attrs.field(factory=list, converter=_to_list)

    @property
    def name(self) -> str:
        return name_from_path(self.label)


@attrs.frozen
class BazelBinary(ExecutableSpec):
    """A binary built by a Bazel target (lxm3 does not run Bazel; packaging rejects it)."""

    label: str
    dependencies: list[BinaryDependency] = attrs.field(factory=list, converter=_to_list)
    bazel_args: list[str] = attrs.field(factory=list, converter=_to_list)

    @property
    def name(self) -> str:
        return name_from_path(self.label)
