"""A built artifact and the local cache that keeps it between launches."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import attrs

from lxm3.files import atomic_write, place_atomically
from lxm3.packaging.digest import file_digest


@attrs.frozen
class Artifact:
    """A file named by its content digest, ready to deploy."""

    path: Path
    digest: str
    kind: str  # "zip" or "sif"

    @property
    def file_name(self) -> str:
        return f"{self.digest}.{self.kind}"

    @property
    def size(self) -> int:
        return self.path.stat().st_size


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "lxm3"


class ArtifactCache:
    """Content-addressed artifacts plus a map from source fingerprints to them.

    The fingerprint map lets an unchanged project skip its build entirely
    (pip takes seconds; a stat walk takes milliseconds), which is what makes
    the edit-hyperparameters-and-relaunch loop fast.
    """

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or default_cache_dir()
        self.artifacts = self.root / "artifacts"
        self.fingerprints = self.root / "fingerprints"

    def store(self, built: Path, kind: str) -> Artifact:
        """Moves a freshly built file into the cache under its digest."""
        self.artifacts.mkdir(parents=True, exist_ok=True)
        digest = file_digest(built)
        target = self.artifacts / f"{digest}.{kind}"
        if not target.exists():
            place_atomically(built, target, move=True)
        else:
            built.unlink(missing_ok=True)
        return Artifact(target, digest, kind)

    def lookup(self, fingerprint: str) -> Artifact | None:
        """The artifact built before from the same sources, if still cached."""
        record = self.fingerprints / f"{fingerprint}.json"
        try:
            data = json.loads(record.read_text())
        except (OSError, ValueError):
            return None
        path = self.artifacts / f"{data['digest']}.{data['kind']}"
        if not path.exists():
            return None
        return Artifact(path, data["digest"], data["kind"])

    def remember(self, fingerprint: str, artifact: Artifact) -> None:
        self.fingerprints.mkdir(parents=True, exist_ok=True)
        record = self.fingerprints / f"{fingerprint}.json"
        atomic_write(record, json.dumps({"digest": artifact.digest, "kind": artifact.kind}))


def fingerprint_tree(root: Path, extra: str) -> str:
    """A cheap key for "these sources, built this way": paths, sizes and mtimes."""
    from lxm3.packaging.archive import tree_files

    hasher = hashlib.sha256(extra.encode())
    for name, path in tree_files(root):
        head = name.split("/", 1)[0]
        # Build byproducts that pip/setuptools write into the source tree.
        if head in ("build", "dist") or ".egg-info" in name:
            continue
        info = os.stat(path)
        hasher.update(f"{name}\0{info.st_size}\0{info.st_mtime_ns}\0{info.st_mode}\n".encode())
    return hasher.hexdigest()
