"""XManager's generic executable specs and entrypoints.

`ModuleName` and `CommandList` say how to start the packaged code. The
container specs (`Container`, `PythonContainer`, `Dockerfile`, `Binary`) are
XManager's own; a backend accepts the ones it can honour and rejects the rest
with a clear error.
"""

from __future__ import annotations

import attrs

from lxm3.xm.job_blocks import ExecutableSpec


@attrs.frozen
class ModuleName:
    """Run the entrypoint as `python -m <module_name>`."""

    module_name: str


@attrs.frozen
class CommandList:
    """Run these shell commands; the job's args are appended to the last one."""

    commands: list[str] = attrs.field(converter=list)


def _basename(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1] or "executable"


@attrs.frozen
class Container(ExecutableSpec):
    """A prebuilt container image, e.g. `docker://python:3.11`."""

    image_path: str

    @property
    def name(self) -> str:
        return _basename(self.image_path).split(":")[0]


@attrs.frozen
class PythonContainer(ExecutableSpec):
    """A Python project built into a container image from `base_image`."""

    entrypoint: ModuleName | CommandList
    path: str = "."
    base_image: str | None = None
    docker_instructions: list[str] | None = None
    use_deep_module: bool = False

    @property
    def name(self) -> str:
        return _basename(self.path)


@attrs.frozen
class Dockerfile(ExecutableSpec):
    """An image built from a Dockerfile."""

    path: str = "."
    dockerfile: str | None = None

    @property
    def name(self) -> str:
        return _basename(self.path)


@attrs.frozen
class Binary(ExecutableSpec):
    """A prebuilt binary on the local disk."""

    path: str

    @property
    def name(self) -> str:
        return _basename(self.path)
