"""Python projects built into Docker images here: lxm3 0.4's `PythonContainer` and `PDMProject`.

    xm_cluster.PythonContainer(entrypoint=xm_cluster.ModuleName("pkg.main"), base_image="python:3.10-slim")
    xm_cluster.PDMProject(entrypoint=..., base_image="python:3.10-slim")      # deps from pdm.lock

The project's DEPENDENCIES go into an image built from `base_image` with
Docker or Podman on this machine (`requirements.txt`, or the PDM lock file
exported to requirements); the project's own code is packaged as a
`PythonPackage` zip, as usual, and runs inside that image. On the Local
executor the image runs with Docker/Podman; on a cluster it is converted to a
Singularity image (needs apptainer/singularity here) and deployed by digest.

A dry run builds nothing: it shows the job with the image's tag.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import tempfile

import attrs

from lxm3.packaging.errors import PackagingError
from lxm3.xm_cluster.executable_specs import PythonPackage, PythonProjectSpec, own_fields_after_entrypoint

_TAIL_LINES = 10


def image_name(path: str) -> str:
    """A Docker repository name from the project directory (lowercase, `[a-z0-9_.-]`)."""
    base = os.path.basename(os.path.normpath(path)).lower()
    name = re.sub(r"[^a-z0-9_.-]", "_", base).strip("._-")
    return name or "project"


@attrs.define(field_transformer=own_fields_after_entrypoint)
class PythonContainer(PythonProjectSpec):
    """A project whose dependencies (`requirements`, a pip requirements file) are built into an image."""

    # After `entrypoint`, in lxm3 0.4.2's positional order (mypy's attrs plugin sees them last).
    base_image: str = attrs.field(converter=str)  # type: ignore[misc]
    requirements: str = "requirements.txt"

    @property
    def name(self) -> str:
        return image_name(self.path)

    def dockerfile(self) -> str:
        """Base image + `pip install -r <requirements>`; the build context is `path`."""
        source = os.path.relpath(os.path.join(self.path, self.requirements), self.path)
        return "\n".join(
            [
                f"FROM {self.base_image}",
                _copy(source, "/lxm3/requirements.txt"),
                "RUN python3 -m pip install --no-cache-dir -r /lxm3/requirements.txt",
                "",
            ]
        )

    def check_sources(self) -> None:
        if not os.path.isfile(os.path.join(self.path, self.requirements)):
            raise PackagingError(
                f"PythonContainer: no requirements file {os.path.join(self.path, self.requirements)} "
                "(set requirements= to your pip requirements file)"
            )


@attrs.define(field_transformer=own_fields_after_entrypoint)
class PDMProject(PythonProjectSpec):
    """A PDM project whose locked dependencies (`lock_file`) are built into an image."""

    # After `entrypoint`, in lxm3 0.4.2's positional order (mypy's attrs plugin sees them last).
    base_image: str = attrs.field(converter=str)  # type: ignore[misc]
    lock_file: str = "pdm.lock"

    @property
    def name(self) -> str:
        return image_name(self.path)

    def dockerfile(self) -> str:
        """A PDM stage exports the lock to requirements; the image installs only those."""
        lock = os.path.relpath(os.path.join(self.path, self.lock_file), self.path)
        return "\n".join(
            [
                f"FROM {self.base_image} AS lock",
                "RUN python3 -m pip install --no-cache-dir pdm",
                "WORKDIR /lxm3",
                _copy("pyproject.toml", "/lxm3/pyproject.toml"),
                _copy(lock, "/lxm3/pdm.lock"),
                "RUN pdm export --no-hashes --prod -o /lxm3/requirements.txt",
                f"FROM {self.base_image}",
                "COPY --from=lock /lxm3/requirements.txt /lxm3/requirements.txt",
                "RUN python3 -m pip install --no-cache-dir -r /lxm3/requirements.txt",
                "",
            ]
        )

    def check_sources(self) -> None:
        for name in ("pyproject.toml", self.lock_file):
            if not os.path.isfile(os.path.join(self.path, name)):
                raise PackagingError(f"PDMProject: {os.path.join(self.path, name)} does not exist")


ProjectImage = PythonContainer | PDMProject


def _copy(source: str, destination: str) -> str:
    """A Dockerfile COPY line in JSON form, so paths with spaces survive."""
    return "COPY " + json.dumps([source, destination])


def code_spec(spec: ProjectImage) -> PythonPackage:
    """The project's own code, packaged as a zip like any PythonPackage."""
    package = PythonPackage(entrypoint=spec.entrypoint, path=spec.path)
    package.resources = list(spec.resources)
    package.extra_packages = list(spec.extra_packages)
    package.pip_args = list(spec.pip_args)
    return package


def image_tag(spec: ProjectImage) -> str:
    """`<project>:latest`, as lxm3 0.4 tagged these images."""
    return f"{spec.name}:latest"


def build_image(spec: ProjectImage, engine: str | None) -> str:
    """Builds the dependency image with `engine` (docker or podman); returns its tag."""
    what = type(spec).__name__
    if engine is None:
        raise PackagingError(
            f"{what}({spec.path}) builds a Docker image, which needs docker or podman on this machine; "
            "none was found (set $LXM3_DOCKER_BINARY, or use SingularityContainer with a prebuilt image)"
        )
    spec.check_sources()
    tag = image_tag(spec)
    with tempfile.TemporaryDirectory(prefix="lxm3-image-") as scratch:
        dockerfile = os.path.join(scratch, "Dockerfile")
        with open(dockerfile, "w") as handle:
            handle.write(spec.dockerfile())
        argv = [engine, "build", "-t", tag, "-f", dockerfile, spec.path]
        try:
            result = subprocess.run(argv, capture_output=True, text=True)
        except FileNotFoundError:
            raise PackagingError(f"{what}: {engine} is not installed on this machine") from None
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-_TAIL_LINES:]
        raise PackagingError(
            f"{what}: building image {tag} failed ({shlex.join(argv)}): "
            f"{' | '.join(tail) or f'exit code {result.returncode}'}"
        )
    return tag
