"""Packaging container specs into `Command`s (registered with the packager).

    SingularityContainer(spec, image_path)  -> code zip + ContainerImage
    DockerContainer(spec, image)            -> code zip + docker_image (Local only)
    xm.Container(image_path)                -> the image's own entrypoint, no code
    xm.PythonContainer(entrypoint, path, base_image)
                                            -> the project's zip run inside base_image

XManager's own specs are honoured where a Singularity (or, locally, Docker)
image can stand in for them; anything else fails with one line that says
what to use instead.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
from typing import Any

from lxm3 import xm
from lxm3.packaging.artifact import ArtifactCache
from lxm3.packaging.errors import PackagingError
from lxm3.runtime.runner_containers import DOCKER_BINARIES, SINGULARITY_BINARIES
from lxm3.xm_cluster.containers.images import daemon_artifact, sif_artifact
from lxm3.xm_cluster.containers.project_images import (
    PDMProject,
    PythonContainer,
    build_image,
    code_spec,
    image_tag,
)
from lxm3.xm_cluster.containers.specs import (
    DockerContainer,
    ImageSource,
    SingularityContainer,
    normalize_docker_image,
    parse_image_path,
)
from lxm3.xm_cluster.executable_specs import PythonPackage
from lxm3.xm_cluster.executables import Command, ContainerImage, Entrypoint
from lxm3.xm_cluster.executors.local import LocalSpec
from lxm3.xm_cluster.packaging import Packager, entrypoint_of, register_spec_builder
from lxm3.xm_cluster.paths import resolve_relative_to_launcher

#: Run the image's own entrypoint (`apptainer run`, `docker run IMAGE`): no program of ours.
IMAGE_ENTRYPOINT = Entrypoint("argv", ())

#: Daemon images already resolved in this process (saves a `docker image inspect` per package call).
_memo: dict[ImageSource, ContainerImage] = {}
_memo_lock = threading.Lock()


def container_image(source: ImageSource, cache: ArtifactCache) -> ContainerImage:
    """The deployable form of an image source (local files become artifacts)."""
    if source.kind == "sif":
        # Not memoised: the on-disk digest record is keyed by the file's stat, so an edit is seen.
        return ContainerImage(artifact=sif_artifact(source.location, cache))
    if source.kind != "daemon":
        return ContainerImage(uri=source.location)
    with _memo_lock:
        known = _memo.get(source)
    if known is not None and known.artifact is not None and known.artifact.path.exists():
        return known
    image = ContainerImage(artifact=daemon_artifact(source.engine, source.reference, cache))
    with _memo_lock:
        _memo[source] = image
    return image


def _command(packager: Packager, packageable: xm.Packageable, inner: Any, **container: Any) -> Command:
    """`inner` (a PythonPackage/UniversalPackage) run in the image; None: the image's own entrypoint."""
    return Command(
        name=inner.name if inner is not None else packageable.executable_spec.name,
        entrypoint=entrypoint_of(inner) if inner is not None else IMAGE_ENTRYPOINT,
        artifact=packager.build_code(inner) if inner is not None else None,
        args=packageable.args,
        env_vars=dict(packageable.env_vars),
        **container,
    )


def build_singularity_container(packager: Packager, packageable: xm.Packageable) -> Command:
    spec = packageable.executable_spec
    assert isinstance(spec, SingularityContainer)
    return _command(
        packager, packageable, spec.entrypoint, container=container_image(spec.source, packager.cache)
    )


def build_docker_container(packager: Packager, packageable: xm.Packageable) -> Command:
    spec = packageable.executable_spec
    assert isinstance(spec, DockerContainer)
    if not isinstance(packageable.executor_spec, LocalSpec):
        raise PackagingError(
            f"DockerContainer({spec.image!r}) runs only on the Local executor; on a cluster use "
            f"xm_cluster.SingularityContainer(..., image_path='docker://{spec.image}') "
            f"(or 'docker-daemon://{spec.image}' for an image that exists only on this machine)"
        )
    return _command(packager, packageable, spec.entrypoint, docker_image=spec.image)


def _local_engine() -> str | None:
    """docker or podman on this machine ($LXM3_DOCKER_BINARY first), if any."""
    override = os.environ.get("LXM3_DOCKER_BINARY")
    for name in [override] if override else DOCKER_BINARIES:
        if shutil.which(name):
            return name
    return None


def _has_local_singularity() -> bool:
    override = os.environ.get("LXM3_SINGULARITY_BINARY")
    return any(shutil.which(name) for name in ([override] if override else SINGULARITY_BINARIES))


def _looks_like_path(text: str) -> bool:
    """A file rather than a registry reference such as `python:3.11` or `ghcr.io/org/img`."""
    return (
        text.endswith(".sif")
        or text.startswith(("/", "./", "../", "~"))
        or os.path.isfile(resolve_relative_to_launcher(text))
    )


def _image_for(packager: Packager, packageable: xm.Packageable, image: str, what: str) -> dict[str, Any]:
    """Docker on Local when an engine is here, else a Singularity image (cluster: always)."""
    text = image.strip()
    is_registry_ref = "://" not in text and not _looks_like_path(text)
    scheme = text.partition("://")[0] if "://" in text else None
    dockerish = is_registry_ref or scheme in ("docker", "docker-daemon", "podman-daemon")
    if isinstance(packageable.executor_spec, LocalSpec):
        if dockerish and _local_engine() is not None:
            return {"docker_image": normalize_docker_image(text)}
        if not _has_local_singularity():
            raise PackagingError(
                f"{what} on the Local executor needs docker, podman, apptainer or singularity on this machine; none was found"
            )
    try:
        source = parse_image_path(f"docker://{text}" if is_registry_ref else text)
    except ValueError as error:
        raise PackagingError(f"{what}: {error}") from None
    return {"container": container_image(source, packager.cache)}


def build_xm_container(packager: Packager, packageable: xm.Packageable) -> Command:
    spec = packageable.executable_spec
    assert isinstance(spec, xm.Container)
    what = f"xm.Container({spec.image_path!r})"
    return _command(packager, packageable, None, **_image_for(packager, packageable, spec.image_path, what))


def default_base_image() -> str:
    """The official image of this interpreter's minor version, so packaged wheels match."""
    return f"python:{sys.version_info.major}.{sys.version_info.minor}"


def build_xm_python_container(packager: Packager, packageable: xm.Packageable) -> Command:
    spec = packageable.executable_spec
    assert isinstance(spec, xm.PythonContainer)
    if spec.docker_instructions:
        raise PackagingError(
            "xm.PythonContainer(docker_instructions=...) is not supported: lxm3 builds no images; build one and use "
            "xm_cluster.SingularityContainer(xm_cluster.PythonPackage(...), image_path=...)"
        )
    base = spec.base_image or default_base_image()
    inner = PythonPackage(entrypoint=spec.entrypoint, path=spec.path)
    what = f"xm.PythonContainer(base_image={base!r})"
    return _command(packager, packageable, inner, **_image_for(packager, packageable, base, what))


def build_project_image(packager: Packager, packageable: xm.Packageable) -> Command:
    """lxm3 0.4's PythonContainer/PDMProject: dependency image built here, code zip run inside it."""
    spec = packageable.executable_spec
    assert isinstance(spec, (PythonContainer, PDMProject))
    engine = _local_engine()
    tag = image_tag(spec)
    is_local = isinstance(packageable.executor_spec, LocalSpec)
    scheme = "podman-daemon" if engine and os.path.basename(engine) == "podman" else "docker-daemon"
    if packager.dry_run:
        # Nothing is built: the job is shown with the tag it would run.
        shown: dict[str, Any] = (
            {"docker_image": tag} if is_local else {"container": ContainerImage(uri=f"{scheme}://{tag}")}
        )
        return _command(packager, packageable, code_spec(spec), **shown)
    build_image(spec, engine)
    what = f"{type(spec).__name__}({tag})"
    image = _image_for(packager, packageable, f"{scheme}://{tag}", what)
    return _command(packager, packageable, code_spec(spec), **image)


def register() -> None:
    register_spec_builder(SingularityContainer, build_singularity_container)
    register_spec_builder(DockerContainer, build_docker_container)
    register_spec_builder(xm.Container, build_xm_container)
    register_spec_builder(xm.PythonContainer, build_xm_python_container)
    register_spec_builder(PythonContainer, build_project_image)
    register_spec_builder(PDMProject, build_project_image)
