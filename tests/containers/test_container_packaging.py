"""Container specs and their packaging: image sources, digests, conversions, errors.

Conversions of docker-daemon:// images run the TEST-ONLY fakes in tests/fakes
(`docker image inspect`, `apptainer build`), not the real tools.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from lxm3 import xm, xm_cluster
from lxm3.packaging.errors import PackagingError
from lxm3.xm_cluster.containers import builders, images
from lxm3.xm_cluster.containers.specs import ImageSource, parse_image_path
from lxm3.xm_cluster.executables import Command
from lxm3.xm_cluster.packaging import Packager

from .conftest import FAKES, Sandbox, read_log


def _probe(box: Sandbox) -> xm_cluster.PythonPackage:
    return xm_cluster.PythonPackage(entrypoint=xm_cluster.ModuleName("probe.main"), path=str(box.project))


def _package(spec: object, executor: xm.Executor) -> Command:
    return Packager().package(xm.Packageable(spec, executor_spec=executor.Spec()))


# ---- where an image comes from


def test_image_sources(sandbox: Sandbox) -> None:
    (sandbox.root / "local.sif").write_bytes(b"x")
    assert parse_image_path("local.sif") == ImageSource("sif", str(sandbox.root / "local.sif"))
    assert parse_image_path("docker://python:3.11") == ImageSource("uri", "docker://python:3.11")
    assert parse_image_path("oras://ghcr.io/o/i:1") == ImageSource("uri", "oras://ghcr.io/o/i:1")
    assert parse_image_path("library://o/c/i:1") == ImageSource("uri", "library://o/c/i:1")
    daemon = parse_image_path("docker-daemon://img:tag")
    assert (daemon.kind, daemon.engine, daemon.reference) == ("daemon", "docker", "img:tag")
    assert parse_image_path("podman-daemon://img:tag").engine == "podman"
    # Absolute and not here: a file already on the cluster.
    assert parse_image_path("/cluster/images/x.sif") == ImageSource("remote", "/cluster/images/x.sif")


@pytest.mark.parametrize(
    ("image_path", "message"),
    [
        ("missing.sif", "no such file"),
        ("ftp://host/x.sif", "unknown scheme ftp://"),
        ("docker-daemon://", "names no image"),
        ("", "must not be empty"),
    ],
)
def test_bad_image_paths_fail_at_construction(sandbox: Sandbox, image_path: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        xm_cluster.SingularityContainer(_probe(sandbox), image_path=image_path)


def test_sandbox_directories_are_refused(sandbox: Sandbox) -> None:
    (sandbox.root / "sandbox_dir").mkdir()
    with pytest.raises(ValueError, match="is a directory"):
        xm_cluster.SingularityContainer(_probe(sandbox), image_path="sandbox_dir")


def test_entrypoint_must_be_a_package(sandbox: Sandbox) -> None:
    with pytest.raises(TypeError, match="PythonPackage, UniversalPackage or PexBinary"):
        xm_cluster.SingularityContainer(xm.ModuleName("x"), image_path="docker://x")  # type: ignore[arg-type]


def test_docker_image_names_are_normalised(sandbox: Sandbox) -> None:
    for given in ("python:3.11", "docker://python:3.11", "docker-daemon://python:3.11"):
        assert xm_cluster.DockerContainer(_probe(sandbox), image=given).image == "python:3.11"
    with pytest.raises(ValueError, match="Docker cannot run oras://"):
        xm_cluster.DockerContainer(_probe(sandbox), image="oras://x/y")


# ---- packaging


def test_local_sif_is_an_artifact_named_by_digest(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    image = sandbox.root / "env.sif"
    image.write_bytes(os.urandom(10_000))
    spec = xm_cluster.SingularityContainer(_probe(sandbox), image_path="env.sif")
    command = _package(spec, xm_cluster.Local())
    assert command.container is not None and command.container.artifact is not None
    assert command.container.artifact.digest == hashlib.sha256(image.read_bytes()).hexdigest()
    assert command.container.artifact.file_name.endswith(".sif")
    assert command.container.artifact.path == image  # not copied into a cache
    assert command.artifact is not None and command.artifact.kind == "zip"

    # The digest of an unchanged file is remembered (big images take seconds to hash).
    calls: list[Path] = []
    monkeypatch.setattr(images, "file_digest", lambda path: calls.append(path) or "0" * 64)
    builders._memo.clear()
    again = _package(spec, xm_cluster.Local())
    assert again.container == command.container and calls == []
    image.write_bytes(os.urandom(10_000))  # a new version of the file is hashed again
    builders._memo.clear()
    _package(spec, xm_cluster.Local())
    assert calls == [image]


def test_uris_and_remote_paths_pass_through(sandbox: Sandbox) -> None:
    for image_path in ("docker://python:3.11", "/cluster/images/x.sif"):
        command = _package(
            xm_cluster.SingularityContainer(_probe(sandbox), image_path=image_path), xm_cluster.Slurm()
        )
        assert command.container is not None
        assert (command.container.uri, command.container.artifact) == (image_path, None)


def test_docker_daemon_image_is_converted_once_per_image_id(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "fresh-cache"))
    spec = xm_cluster.SingularityContainer(_probe(sandbox), image_path="docker-daemon://myimg:latest")
    first = _package(spec, xm_cluster.Slurm())
    builders._memo.clear()
    second = _package(spec, xm_cluster.Slurm())
    assert first.container == second.container  # same file, same digest: nothing re-sent
    assert first.container is not None and first.container.artifact is not None
    assert first.container.artifact.path.read_bytes().startswith(b"LXM3-FAKE-SIF")
    builds = [e["argv"] for e in read_log(sandbox.apptainer_log) if e["argv"][1] == "build"]
    assert len(builds) == 1 and builds[0][-1] == "docker-daemon://myimg:latest"
    inspects = [e["argv"][1:] for e in read_log(sandbox.docker_log)]
    assert inspects == [["image", "inspect", "--format", "{{.Id}}", "myimg:latest"]] * 2

    # A rebuilt image (new id) is converted again.
    monkeypatch.setenv("LXM3_FAKE_DOCKER_IMAGE_SALT", "v2")
    builders._memo.clear()
    third = _package(spec, xm_cluster.Slurm())
    assert third.container != first.container
    assert len([e for e in read_log(sandbox.apptainer_log) if e["argv"][1] == "build"]) == 2


def test_podman_daemon_image_goes_through_an_archive(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "fresh-cache"))
    spec = xm_cluster.SingularityContainer(_probe(sandbox), image_path="podman-daemon://localhost/img:1")
    _package(spec, xm_cluster.Slurm())
    calls = [e["argv"] for e in read_log(sandbox.docker_log)]
    assert Path(calls[0][0]).name == "podman" and calls[1][1:5] == [
        "save",
        "--format",
        "docker-archive",
        "-o",
    ]
    [build] = [e["argv"] for e in read_log(sandbox.apptainer_log) if e["argv"][1] == "build"]
    assert build[-1].startswith("docker-archive://") and build[-1].endswith("image.tar")


def test_conversion_without_a_local_runtime_says_what_to_do(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    only_docker = tmp_path / "only"
    only_docker.mkdir()
    (only_docker / "docker").symlink_to(FAKES / "docker")
    monkeypatch.setenv("PATH", f"{only_docker}{os.pathsep}/usr/bin{os.pathsep}/bin")  # python3 for the fake
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "fresh-cache"))
    spec = xm_cluster.SingularityContainer(_probe(sandbox), image_path="docker-daemon://img:1")
    with pytest.raises(PackagingError, match=r"needs apptainer or singularity on this machine.*docker://"):
        _package(spec, xm_cluster.Slurm())


def test_docker_container_on_a_cluster_is_refused_with_the_alternative(sandbox: Sandbox) -> None:
    with pytest.raises(
        PackagingError, match=r"runs only on the Local executor.*image_path='docker://python:3.11'"
    ):
        _package(xm_cluster.DockerContainer(_probe(sandbox), image="python:3.11"), xm_cluster.Slurm())


def test_xm_container_on_a_cluster_becomes_a_singularity_uri(sandbox: Sandbox) -> None:
    command = _package(xm.Container(image_path="ghcr.io/org/img:2"), xm_cluster.Slurm())
    assert command.container is not None and command.container.uri == "docker://ghcr.io/org/img:2"
    assert command.artifact is None and command.entrypoint == builders.IMAGE_ENTRYPOINT
    assert command.docker_image is None


def test_xm_python_container_runs_the_project_in_its_base_image(sandbox: Sandbox) -> None:
    spec = xm.PythonContainer(entrypoint=xm.ModuleName("probe.main"), path=str(sandbox.project))
    command = _package(spec, xm_cluster.Slurm())
    assert (
        command.container is not None and command.container.uri == f"docker://{builders.default_base_image()}"
    )
    assert command.entrypoint.to_spec() == {"kind": "module", "module": "probe.main"}
    local = _package(
        xm.PythonContainer(
            entrypoint=xm.ModuleName("probe.main"), path=str(sandbox.project), base_image="python:3.12"
        ),
        xm_cluster.Local(),
    )
    assert local.docker_image == "python:3.12"  # docker (the fake) is on PATH


def test_xm_python_container_docker_instructions_are_refused(sandbox: Sandbox) -> None:
    spec = xm.PythonContainer(
        entrypoint=xm.ModuleName("m"), path=str(sandbox.project), docker_instructions=["RUN x"]
    )
    with pytest.raises(PackagingError, match="docker_instructions"):
        _package(spec, xm_cluster.Slurm())


def test_xm_container_on_local_without_any_runtime_fails_in_one_line(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(PackagingError, match="needs docker, podman, apptainer or singularity"):
        _package(xm.Container(image_path="busybox"), xm_cluster.Local())
