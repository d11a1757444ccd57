"""Builds a Python project into a deterministic zip for the task runner.

`pip install --no-deps --target DIR PROJECT [extra packages]` lays out the
project as importable modules; resources (Filesets) are copied beside them;
the tree is zipped deterministically and stored under its digest. The task
runner extracts the zip and puts it on PYTHONPATH.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from lxm3.packaging.archive import iter_tree, write_zip
from lxm3.packaging.artifact import Artifact, ArtifactCache, fingerprint_tree
from lxm3.packaging.errors import PackagingError

_PROJECT_FILES = ("pyproject.toml", "setup.py", "setup.cfg")
_TAIL_LINES = 15


def check_project(path: Path) -> None:
    if not path.exists():
        raise PackagingError(
            f"PythonPackage path {path} does not exist (it is resolved relative to the launcher)"
        )
    if not path.is_dir():
        raise PackagingError(f"PythonPackage path {path} is not a directory")
    if not any((path / name).exists() for name in _PROJECT_FILES):
        raise PackagingError(
            f"{path} has no pyproject.toml, setup.py or setup.cfg: PythonPackage needs an installable project"
        )


def pip_command() -> list[str]:
    """This interpreter's pip, else a `pip3`/`pip` on PATH (venvs made by pdm/uv have no pip)."""
    if importlib.util.find_spec("pip") is not None:
        return [sys.executable, "-m", "pip"]
    for name in ("pip3", "pip"):
        found = shutil.which(name)
        if found:
            return [found]
    raise PackagingError(
        f"pip is not available: {sys.executable} has no pip module and no pip3 is on PATH; "
        f"install it with: {sys.executable} -m ensurepip"
    )


def uv_command() -> list[str] | None:
    """The uv binary shipped with the `uv` package, unless LXM3_BUILDER=pip.

    Why uv: installing a project into a target dir spends most of its time
    setting up the isolated build environment; uv does that several times
    faster than pip (about 1.2 s against 3 s for a 150-module setuptools
    project, cold caches), and that is most of a first launch.
    """
    if os.environ.get("LXM3_BUILDER", "uv") == "pip":
        return None
    try:
        from uv import find_uv_bin
    except ImportError:
        return None
    try:
        return [find_uv_bin()]
    except FileNotFoundError:
        return None


def install_command(
    target: Path, path: Path, extra_packages: Sequence[str], pip_args: Sequence[str]
) -> list[str]:
    """`uv pip install` (default) or `pip install` of the project into `target`, without deps.

    User `pip_args` are pip's flags, so they select pip.
    """
    uv = None if pip_args else uv_command()
    if uv is not None:
        return [
            *uv, "pip", "install", "--no-deps", "--quiet", "--python", sys.executable,
            "--target", str(target), str(path), *extra_packages,
        ]  # fmt: skip
    return [
        *pip_command(), "install", "--no-deps", "--no-compile", "--disable-pip-version-check",
        "--no-warn-script-location", "--quiet", "--target", str(target), *pip_args, str(path), *extra_packages,
    ]  # fmt: skip


def _resource_entries(resources: Mapping[str, str]) -> list[tuple[Path, str]]:
    entries: list[tuple[Path, str]] = []
    for source, destination in resources.items():
        src = Path(source)
        if not src.exists():
            raise PackagingError(f"Fileset source {src} does not exist")
        if src.is_dir():
            entries.extend((path, f"{destination.rstrip('/')}/{name}") for path, name in iter_tree(src))
        else:
            entries.append((src, destination.lstrip("/")))
    return entries


def build_python_package(
    path: Path,
    *,
    resources: Mapping[str, str] | None = None,
    extra_packages: Sequence[str] = (),
    pip_args: Sequence[str] = (),
    cache: ArtifactCache | None = None,
) -> Artifact:
    """Builds (or reuses from the cache) the zip for a Python project."""
    path = path.resolve()
    check_project(path)
    cache = cache or ArtifactCache()
    resources = dict(resources or {})
    recipe = repr((sys.version_info[:2], sorted(resources.items()), list(extra_packages), list(pip_args)))
    resource_key = "".join(
        fingerprint_tree(Path(src), "")
        if Path(src).is_dir()
        else f"{src}:{Path(src).stat().st_mtime_ns if Path(src).exists() else 0}"
        for src in sorted(resources)
    )
    fingerprint = fingerprint_tree(path, recipe + resource_key)
    cached = cache.lookup(fingerprint)
    if cached is not None:
        return cached

    with tempfile.TemporaryDirectory(prefix="lxm3-build-") as scratch:
        target = Path(scratch) / "site"
        command = install_command(target, path, extra_packages, pip_args)
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-_TAIL_LINES:])
            tool = "uv" if command[1:3] == ["pip", "install"] else "pip"
            raise PackagingError(f"{tool} could not build {path} (exit {result.returncode}):\n{tail}")
        # Console-script shims hard-code this machine's interpreter; they are useless remotely.
        shutil.rmtree(target / "bin", ignore_errors=True)
        entries = list(iter_tree(target))
        entries += _resource_entries(resources)
        bundle = Path(scratch) / "package.zip"
        write_zip(bundle, entries)
        artifact = cache.store(bundle, "zip")
    cache.remember(fingerprint, artifact)
    return artifact
