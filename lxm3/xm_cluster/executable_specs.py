"""What a launch script can package: Python projects, universal packages, containers.

Specs are plain, validated descriptions; `lxm3.xm_cluster.packaging` turns
them into artifacts. Paths are resolved relative to the launch script, and
mistakes that can be seen at construction (a missing path, a build script
that is not executable) raise there, at the line that made them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

import attrs

from lxm3.xm import job_blocks
from lxm3.xm.executables import CommandList, ModuleName
from lxm3.xm_cluster.paths import resolve_relative_to_launcher


def _name_from_path(path: str) -> str:
    return os.path.basename(os.path.normpath(path)) or "package"


class Fileset:
    """Extra files to ship with a package: `Fileset(files={local_src: dst_in_archive})`."""

    def __init__(self, files: Mapping[str, str] | None = None) -> None:
        self._files: dict[str, str] = {}
        for src, dst in (files or {}).items():
            self.add_path(src, dst)

    def add_path(self, src: str, dst: str) -> None:
        self._files[resolve_relative_to_launcher(src)] = dst

    def get_path(self, name: str, executor_spec: object = None) -> str:
        """The path of file `name` (a destination) as the task sees it (relative to its workdir)."""
        del executor_spec
        if name not in self._files.values():
            raise ValueError(f"{name!r} is not a destination of this Fileset: {sorted(self._files.values())}")
        return name

    @property
    def files(self) -> dict[str, str]:
        return dict(self._files)


def fileset_files(filesets: Iterable[Fileset]) -> dict[str, str]:
    """Every file of the filesets, local source -> destination in the archive (a later one wins)."""
    files: dict[str, str] = {}
    for fileset in filesets:
        files.update(fileset.files)
    return files


def _check_entrypoint(instance: object, attribute: attrs.Attribute, value: object) -> None:
    if not isinstance(value, (ModuleName, CommandList)):
        raise TypeError(f"{attribute.name} must be xm.ModuleName or xm.CommandList, got {value!r}")


@attrs.define
class PythonProjectSpec(job_blocks.ExecutableSpec):
    """The fields every Python project spec shares: `PythonPackage` and the project images.

    One definition, so their checks and conversions cannot drift apart; a
    subclass's own fields go right after `entrypoint` (`own_fields_after_entrypoint`).
    """

    entrypoint: ModuleName | CommandList = attrs.field(validator=_check_entrypoint)
    path: str = attrs.field(default=".", converter=resolve_relative_to_launcher)
    resources: list[Fileset] = attrs.field(factory=list, converter=list)
    extra_packages: list[str] = attrs.field(factory=list, converter=list)
    pip_args: list[str] = attrs.field(factory=list, converter=list)

    @property
    def name(self) -> str:
        return _name_from_path(self.path)


def own_fields_after_entrypoint(cls: type, fields: list[attrs.Attribute]) -> list[attrs.Attribute]:
    """An attrs `field_transformer`: a subclass's own fields right after the inherited `entrypoint`.

    attrs puts inherited fields first, but lxm3 0.4.2 took `PythonContainer(entrypoint,
    base_image, requirements, path, ...)` positionally, and launch scripts still do.
    (mypy's attrs plugin does not know of the reordering: it sees inherited fields first.)
    """
    inherited = [field for field in fields if getattr(field, "inherited", False)]
    own = [field for field in fields if not getattr(field, "inherited", False)]
    return [*inherited[:1], *own, *inherited[1:]]


@attrs.define
class PythonPackage(PythonProjectSpec):
    """A pip-installable project run as `python3 -m module` (or commands) on the cluster."""


@attrs.define
class UniversalPackage(job_blocks.ExecutableSpec):
    """Anything a build script can put in `$BUILDDIR`; `entrypoint` is its command line."""

    entrypoint: list[str] = attrs.field(converter=list)
    build_script: str
    build_args: list[str] = attrs.field(factory=list, converter=list)
    path: str = attrs.field(default=".", converter=resolve_relative_to_launcher)

    def __attrs_post_init__(self) -> None:
        script = os.path.join(self.path, self.build_script)
        if not os.path.isfile(script):
            raise ValueError(f"UniversalPackage build script {script} does not exist")
        if not os.access(script, os.X_OK):
            raise ValueError(
                f"UniversalPackage build script {script} is not executable; run: chmod +x {script}"
            )

    @property
    def name(self) -> str:
        return _name_from_path(self.path)


def _check_module_name(instance: object, attribute: attrs.Attribute, value: object) -> None:
    if not isinstance(value, ModuleName):
        raise TypeError(f"PexBinary.{attribute.name} must be xm.ModuleName, got {value!r}")


@attrs.define
class PexBinary(job_blocks.ExecutableSpec):
    """Code packed as a PEX by `pex` (lxm3 0.4.3), without dependencies: see lxm3.packaging.pex_binary.

    `packages`/`modules` are passed to `pex --package/--module` (paths relative
    to `path`); `dependencies` are Filesets shipped next to the PEX.
    """

    entrypoint: ModuleName = attrs.field(validator=_check_module_name)
    path: str = attrs.field(default=".", converter=resolve_relative_to_launcher)
    packages: list[str] = attrs.field(factory=list, converter=list, kw_only=True)
    modules: list[str] = attrs.field(factory=list, converter=list, kw_only=True)
    dependencies: list[Fileset] = attrs.field(factory=list, converter=list)

    @property
    def name(self) -> str:
        return _name_from_path(self.path)
