"""Singularity images as deployable artifacts.

A local `.sif` becomes an `Artifact` named by its sha256, deployed like the
code zip (`artifacts/<sha256>.sif`, sent only when the cluster lacks it). The
digest of a multi-gigabyte file takes seconds, so it is remembered per
(path, size, mtime, inode). The image itself stays where it is.

A `docker-daemon://` or `podman-daemon://` image is converted here with
`apptainer build` (or `singularity build`) once per image id: SIF builds are
not byte-reproducible, so converting again would make a new digest and send
the image again on every launch.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shlex
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

from lxm3.files import atomic_write
from lxm3.packaging.artifact import Artifact, ArtifactCache
from lxm3.packaging.digest import file_digest
from lxm3.packaging.errors import PackagingError
from lxm3.runtime.runner_containers import SINGULARITY_BINARIES

log = logging.getLogger(__name__)

_TAIL_LINES = 10
_lock = threading.Lock()


def _digest_record(cache: ArtifactCache, path: Path) -> Path:
    info = path.stat()
    key = f"{path.resolve()}\0{info.st_size}\0{info.st_mtime_ns}\0{info.st_ino}\0{info.st_dev}"
    return cache.root / "sif-digests" / f"{hashlib.sha256(key.encode()).hexdigest()}.json"


def sif_artifact(path: str | Path, cache: ArtifactCache) -> Artifact:
    """The local image as an artifact (digest computed once per file version)."""
    image = Path(path)
    try:
        record = _digest_record(cache, image)
    except OSError as error:
        raise PackagingError(f"cannot read container image {image}: {error.strerror}") from None
    try:
        digest = str(json.loads(record.read_text())["digest"])
    except (OSError, ValueError, KeyError):
        size = image.stat().st_size
        if size > 256 * 1024 * 1024:
            log.info("computing the digest of %s (%.1f GB; once per version of the file)", image, size / 1e9)
        digest = file_digest(image)
        record.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(record, json.dumps({"digest": digest, "path": str(image)}))
    return Artifact(image, digest, "sif")


def local_singularity_binary() -> str:
    """apptainer/singularity on THIS machine ($LXM3_SINGULARITY_BINARY first), for conversions."""
    override = os.environ.get("LXM3_SINGULARITY_BINARY")
    candidates = [override] if override else list(SINGULARITY_BINARIES)
    for name in candidates:
        found = shutil.which(name)
        if found:
            return found
    raise PackagingError(
        f"converting a local Docker/Podman image needs {' or '.join(candidates)} on this machine, and none was found; "
        "push the image to a registry and use image_path='docker://...', or build the .sif yourself"
    )


def _run(argv: list[str], what: str) -> str:
    try:
        result = subprocess.run(argv, capture_output=True, text=True)
    except FileNotFoundError:
        raise PackagingError(f"{what}: {argv[0]} is not installed on this machine") from None
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-_TAIL_LINES:]
        raise PackagingError(
            f"{what} failed ({shlex.join(argv)}): {' | '.join(tail) or f'exit code {result.returncode}'}"
        )
    return result.stdout


def image_id(engine: str, reference: str) -> str:
    """The content id (`sha256:...`) of a local Docker/Podman image."""
    output = _run(
        [engine, "image", "inspect", "--format", "{{.Id}}", reference],
        f"looking up {engine} image {reference}",
    )
    ident = output.strip().splitlines()[0] if output.strip() else ""
    if not ident:
        raise PackagingError(f"{engine} image inspect printed no id for {reference}")
    return ident


def daemon_artifact(engine: str, reference: str, cache: ArtifactCache) -> Artifact:
    """A local Docker/Podman image as a .sif artifact, converted once per image id."""
    ident = image_id(engine, reference)
    fingerprint = hashlib.sha256(f"daemon-sif\0{ident}".encode()).hexdigest()
    with _lock:
        cached = cache.lookup(fingerprint)
        if cached is not None:
            return cached
        binary = local_singularity_binary()
        cache.root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="lxm3-sif-", dir=cache.root) as scratch:
            output = Path(scratch) / "image.sif"
            if engine == "docker":
                source = f"docker-daemon://{reference}"
            else:
                # Apptainer reads no Podman store; an archive of the image is the portable route.
                archive = Path(scratch) / "image.tar"
                _run(
                    [engine, "save", "--format", "docker-archive", "-o", str(archive), reference],
                    f"saving {engine} image {reference}",
                )
                source = f"docker-archive://{archive}"
            log.info(
                "converting %s image %s (%s) to a Singularity image with %s; cached for later launches",
                engine,
                reference,
                ident[:19],
                binary,
            )
            _run([binary, "build", str(output), source], f"converting {engine} image {reference}")
            artifact = cache.store(output, "sif")
        cache.remember(fingerprint, artifact)
        return artifact
