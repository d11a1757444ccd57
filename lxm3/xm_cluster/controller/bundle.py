"""lxm3 and its pure-Python dependencies as ONE content-addressed zip for the controller.

The controller runs on the cluster's own `python3` without any pip install:
the job deploys `artifacts/<sha256>.zip` like any code artifact (so a cluster
that has it already receives nothing), and `boot.py` unpacks it once into
`<staging>/runtime/lxm3-bundle-<sha12>/`, which every later controller of the
same lxm3 reuses. Only pure-Python packages go in: compiled speedups
(markupsafe's) are left out, their packages fall back to Python code.
"""

from __future__ import annotations

import hashlib
import importlib.util
import tempfile
from pathlib import Path

from lxm3.packaging.archive import iter_tree, write_zip
from lxm3.packaging.artifact import Artifact, ArtifactCache

#: Top-level packages the controller imports (tomli only exists, and is only needed, before 3.11).
PACKAGES = ("lxm3", "attr", "attrs", "jinja2", "markupsafe", "absl", "tomli")
_COMPILED = (".so", ".pyd", ".dylib")


def package_roots() -> list[tuple[str, Path]]:
    """(name, directory) of each bundled package installed here."""
    roots = []
    for name in PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            if name == "tomli":
                continue
            raise RuntimeError(f"cannot bundle {name} for the controller: it is not installed")
        roots.append((name, Path(next(iter(spec.submodule_search_locations)))))
    return roots


def _files() -> list[tuple[Path, str]]:
    files = []
    for name, root in package_roots():
        for path, relative in iter_tree(root):
            if relative.endswith(_COMPILED):
                continue
            files.append((path, f"{name}/{relative}"))
    return files


def build_bundle(cache: ArtifactCache | None = None) -> Artifact:
    """The bundle's artifact; rebuilt only when a bundled file changed (a stat walk otherwise)."""
    cache = cache or ArtifactCache()
    files = _files()
    hasher = hashlib.sha256(b"lxm3-controller-bundle-1\n")
    for path, name in files:
        info = path.stat()
        hasher.update(f"{name}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
    fingerprint = hasher.hexdigest()
    cached = cache.lookup(fingerprint)
    if cached is not None:
        return cached
    with tempfile.TemporaryDirectory(prefix="lxm3-bundle-") as scratch:
        built = Path(scratch) / "bundle.zip"
        write_zip(built, files)
        artifact = cache.store(built, "zip")
    cache.remember(fingerprint, artifact)
    return artifact
