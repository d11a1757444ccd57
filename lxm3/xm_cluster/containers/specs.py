"""Container specs a launch script can package: Singularity/Apptainer and Docker.

    xm_cluster.SingularityContainer(PythonPackage(...), image_path="env.sif")
    xm_cluster.DockerContainer(PythonPackage(...), image="python:3.11")   # Local only

The wrapped spec (`entrypoint`, as in lxm3 0.4) is packaged as usual (a code
zip) and run inside the image, in a working directory bound at the same path.
Where an image comes from is decided here, at construction, so a missing
local file fails at the line that named it.
"""

from __future__ import annotations

import os

import attrs

from lxm3.xm import job_blocks
from lxm3.xm_cluster.executable_specs import PexBinary, PythonPackage, UniversalPackage
from lxm3.xm_cluster.paths import resolve_relative_to_launcher

#: URI schemes the cluster's runtime resolves itself (pulls, or reads from its cache).
REMOTE_SCHEMES = ("docker", "oras", "library", "shub", "http", "https")
#: Images in a container engine on THIS machine, converted to a .sif here.
DAEMON_SCHEMES = ("docker-daemon", "podman-daemon")


def _scheme(path: str) -> str | None:
    head, sep, _ = path.partition("://")
    return head if sep and head.replace("-", "").isalnum() else None


@attrs.frozen
class ImageSource:
    """Where a Singularity image comes from.

    kind: "sif" (a local file, deployed by digest), "daemon" (a local Docker or
    Podman image, converted to a .sif here), "uri" (resolved by the cluster's
    runtime) or "remote" (an absolute path already on the execution host).
    """

    kind: str
    #: The absolute local path, the full URI, or the remote path.
    location: str

    @property
    def engine(self) -> str:
        """`docker` or `podman` for a daemon image."""
        return self.location.partition("-daemon://")[0]

    @property
    def reference(self) -> str:
        """The image reference without its scheme (e.g. `img:tag`)."""
        return self.location.partition("://")[2] if "://" in self.location else self.location


def parse_image_path(image_path: str) -> ImageSource:
    """Classifies `image_path`; relative local paths are relative to the launch script."""
    text = str(image_path).strip()
    if not text:
        raise ValueError("image_path must not be empty")
    scheme = _scheme(text)
    if scheme in DAEMON_SCHEMES:
        if not text.partition("://")[2]:
            raise ValueError(f"image_path {text!r} names no image")
        return ImageSource("daemon", text)
    if scheme is not None:
        if scheme not in REMOTE_SCHEMES:
            known = ", ".join(f"{s}://" for s in (*REMOTE_SCHEMES, *DAEMON_SCHEMES))
            raise ValueError(f"image_path {text!r}: unknown scheme {scheme}://; known: {known}, or a path")
        return ImageSource("uri", text)
    local = resolve_relative_to_launcher(text)
    if os.path.isdir(local):
        raise ValueError(
            f"image_path {local} is a directory (a sandbox); lxm3 deploys single files: "
            f"build a .sif with `apptainer build image.sif {local}`"
        )
    if os.path.isfile(local):
        return ImageSource("sif", local)
    if os.path.isabs(text):
        # Not here, so it names a file already on the cluster (`~` would be this machine's home).
        return ImageSource("remote", os.path.normpath(text))
    raise ValueError(
        f"image_path {text!r}: no such file {local} (an image already on the cluster needs an absolute path)"
    )


def _check_wrapped(instance: object, attribute: attrs.Attribute, value: object) -> None:
    if not isinstance(value, (PythonPackage, UniversalPackage, PexBinary)):
        raise TypeError(
            f"{type(instance).__name__}.{attribute.name} must be a PythonPackage, UniversalPackage or PexBinary, "
            f"got {value!r}"
        )


@attrs.define
class SingularityContainer(job_blocks.ExecutableSpec):
    """Runs a packaged project inside a Singularity/Apptainer image.

    `image_path`: a local `.sif` (relative to the launch script; deployed once per
    content digest), `docker-daemon://img:tag` or `podman-daemon://img:tag`
    (converted here with apptainer/singularity, cached by image id),
    `docker://`, `oras://` or `library://` URIs (pulled by the cluster's runtime),
    or an absolute path that exists only on the cluster.
    """

    entrypoint: PythonPackage | UniversalPackage | PexBinary = attrs.field(validator=_check_wrapped)
    image_path: str = attrs.field(converter=str)
    source: ImageSource = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        self.source = parse_image_path(self.image_path)
        if self.source.kind in ("sif", "remote"):
            self.image_path = self.source.location

    @property
    def name(self) -> str:
        return self.entrypoint.name


def normalize_docker_image(image: str) -> str:
    """`docker://img`, `docker-daemon://img`, `podman-daemon://img` and `img` all mean `img`."""
    text = str(image).strip()
    scheme = _scheme(text)
    if scheme in ("docker", "docker-daemon", "podman-daemon"):
        text = text.partition("://")[2]
    elif scheme is not None:
        raise ValueError(f"DockerContainer image {image!r}: Docker cannot run {scheme}:// images")
    if not text:
        raise ValueError("DockerContainer image must not be empty")
    return text


@attrs.define
class DockerContainer(job_blocks.ExecutableSpec):
    """Runs a packaged project inside a Docker (or Podman) image on the Local executor.

    On Slurm or Grid Engine use `SingularityContainer(..., image_path="docker://IMAGE")`
    (or `docker-daemon://IMAGE` for an image that exists only on this machine).
    """

    entrypoint: PythonPackage | UniversalPackage | PexBinary = attrs.field(validator=_check_wrapped)
    image: str = attrs.field(converter=normalize_docker_image)

    @property
    def name(self) -> str:
        return self.entrypoint.name
