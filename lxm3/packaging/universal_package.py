"""Builds a UniversalPackage: the user's own build script fills `$BUILDDIR`.

For code that is not a pip-installable project (shell scripts, compiled
binaries, other languages). The script runs in the package directory with
`BUILDDIR` set; whatever it leaves there is zipped and stored by digest.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from lxm3.packaging.archive import iter_tree, write_zip
from lxm3.packaging.artifact import Artifact, ArtifactCache
from lxm3.packaging.errors import PackagingError

_TAIL_LINES = 15


def build_universal_package(
    path: Path,
    build_script: str,
    *,
    build_args: Sequence[str] = (),
    cache: ArtifactCache | None = None,
) -> Artifact:
    """Runs the build script and stores the resulting tree as a zip artifact."""
    path = path.resolve()
    if not path.is_dir():
        raise PackagingError(f"UniversalPackage path {path} does not exist or is not a directory")
    script = (path / build_script).resolve()
    if not script.is_file():
        raise PackagingError(f"build script {script} does not exist")
    if not os.access(script, os.X_OK):
        raise PackagingError(f"build script {script} is not executable; run: chmod +x {script}")
    cache = cache or ArtifactCache()
    with tempfile.TemporaryDirectory(prefix="lxm3-build-") as scratch:
        build_dir = Path(scratch) / "build"
        build_dir.mkdir()
        env = dict(os.environ, BUILDDIR=str(build_dir))
        result = subprocess.run([str(script), *build_args], cwd=path, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-_TAIL_LINES:])
            raise PackagingError(f"build script {script} failed (exit {result.returncode}):\n{tail}")
        bundle = Path(scratch) / "package.zip"
        write_zip(bundle, iter_tree(build_dir))
        return cache.store(bundle, "zip")
