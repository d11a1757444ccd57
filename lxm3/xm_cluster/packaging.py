"""Routes each executable spec to its builder and returns a `Command`.

Data flows one way: spec -> artifact (here) -> job script -> deploy. Builds
of identical specs within one launch are shared, so packaging the same
project for two executors builds it once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lxm3 import xm
from lxm3.packaging.artifact import Artifact, ArtifactCache
from lxm3.packaging.pex_binary import build_pex_binary, run_command
from lxm3.packaging.python_package import build_python_package
from lxm3.packaging.universal_package import build_universal_package
from lxm3.xm_cluster.executable_specs import PexBinary, PythonPackage, UniversalPackage, fileset_files
from lxm3.xm_cluster.executables import Command, Entrypoint

#: Extra spec handlers registered by other modules (containers): spec type -> builder.
SpecBuilder = Callable[["Packager", xm.Packageable], Command]
_EXTRA_BUILDERS: dict[type, SpecBuilder] = {}


#: Specs the packager builds itself (see `package`).
_BUILT_IN = (PythonPackage, UniversalPackage, PexBinary)


def register_spec_builder(spec_type: type, builder: SpecBuilder) -> None:
    """Lets a module teach the packager a new spec type (e.g. SingularityContainer)."""
    _EXTRA_BUILDERS[spec_type] = builder


def entrypoint_of(spec: Any) -> Entrypoint:
    if isinstance(spec, PythonPackage):
        if isinstance(spec.entrypoint, xm.ModuleName):
            return Entrypoint("module", (spec.entrypoint.module_name,))
        return Entrypoint("commands", tuple(spec.entrypoint.commands))
    if isinstance(spec, UniversalPackage):
        return Entrypoint("commands", (" ".join(spec.entrypoint),))
    if isinstance(spec, PexBinary):
        return Entrypoint("commands", (run_command(spec.name),))
    raise TypeError(f"no entrypoint for {type(spec).__name__}")


class Packager:
    """Builds artifacts for packageables, memoising identical specs."""

    def __init__(self, cache: ArtifactCache | None = None, *, dry_run: bool = False) -> None:
        self.cache = cache or ArtifactCache()
        #: A dry run renders specs that need a build here (images) without building them.
        self.dry_run = dry_run
        self._memo: dict[str, Artifact] = {}
        self._lock = threading.Lock()

    def build_code(self, spec: Any) -> Artifact:
        """The code artifact of a PythonPackage, UniversalPackage or PexBinary."""
        key = repr(spec)
        with self._lock:
            if key in self._memo:
                return self._memo[key]
        if isinstance(spec, PythonPackage):
            artifact = build_python_package(
                Path(spec.path),
                resources=fileset_files(spec.resources),
                extra_packages=spec.extra_packages,
                pip_args=spec.pip_args,
                cache=self.cache,
            )
        elif isinstance(spec, UniversalPackage):
            artifact = build_universal_package(
                Path(spec.path), spec.build_script, build_args=spec.build_args, cache=self.cache
            )
        elif isinstance(spec, PexBinary):
            artifact = build_pex_binary(
                Path(spec.path),
                spec.name,
                spec.entrypoint.module_name,
                packages=spec.packages,
                modules=spec.modules,
                files=fileset_files(spec.dependencies),
                cache=self.cache,
            )
        else:
            raise TypeError(f"cannot build code for {type(spec).__name__}")
        with self._lock:
            self._memo[key] = artifact
        return artifact

    def package(self, packageable: xm.Packageable) -> Command:
        spec = packageable.executable_spec
        builder = _EXTRA_BUILDERS.get(type(spec))
        if builder is None and type(spec) not in _BUILT_IN:
            # The container builders (and the executors they need) are registered on the
            # first spec that needs one, not imported by every launch.
            from lxm3.xm_cluster.containers.builders import register

            register()
            builder = _EXTRA_BUILDERS.get(type(spec))
        if builder is not None:
            return builder(self, packageable)
        if isinstance(spec, (PythonPackage, UniversalPackage, PexBinary)):
            return Command(
                name=spec.name,
                entrypoint=entrypoint_of(spec),
                artifact=self.build_code(spec),
                args=packageable.args,
                env_vars=dict(packageable.env_vars),
            )
        supported = ", ".join(
            ["PythonPackage", "UniversalPackage", "PexBinary", *(t.__name__ for t in _EXTRA_BUILDERS)]
        )
        raise TypeError(
            f"xm.{type(spec).__name__} is not supported by this backend: lxm3 cannot package "
            f"{type(spec).__name__}; supported specs: {supported}"
        )
