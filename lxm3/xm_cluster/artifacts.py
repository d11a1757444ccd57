"""`lxm3.xm_cluster.artifacts`: lxm3 0.4's file store over a staging root, for this machine.

lxm3 0.4 exposed its staging directories as `ArtifactStore`s. lxm3 stages
content-addressed artifacts itself (see docs/architecture.md, "Staging
layout"), so launch scripts never need this; it is kept for helpers that put
or look up files under the local staging root. Cluster staging roots are
reached only through a launch's one SSH connection, so there is no cluster store.
"""

from __future__ import annotations

import datetime
import os
import shutil
from pathlib import Path

import attrs

from lxm3.config import load_config


@attrs.frozen
class FileInfo:
    """A stored file: its absolute path, size in bytes and modification time (UTC)."""

    path: str
    size: int
    time_modified: datetime.datetime


class ArtifactStore:
    """Files under a local staging directory (`projects/<project>/` when a project is given)."""

    def __init__(self, staging_directory: str | os.PathLike[str], project: str | None = None) -> None:
        root = Path(os.path.abspath(os.path.expanduser(os.fspath(staging_directory))))
        self._root = root / "projects" / project if project else root

    @property
    def storage_root(self) -> str:
        return str(self._root)

    def normalize_path(self, path: str) -> str:
        """`path` (relative, inside the store) as an absolute path."""
        if os.path.isabs(path) or ".." in Path(path).parts:
            raise ValueError(f"artifact path {path!r} must be relative and stay inside {self._root}")
        return str(self._root / path)

    def exists(self, path: str) -> bool:
        return os.path.exists(self.normalize_path(path))

    def ensure_dir(self, directory: str) -> None:
        os.makedirs(self.normalize_path(directory), exist_ok=True)

    def put_file(self, local_path: str, path: str) -> str:
        """Copies a local file into the store; returns where it now is."""
        target = self.normalize_path(path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(local_path, target)
        return target

    def put_text(self, text: str, path: str) -> str:
        target = self.normalize_path(path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        Path(target).write_text(text)
        return target

    def get_file_info(self, path: str) -> FileInfo:
        target = self.normalize_path(path)
        info = os.stat(target)
        modified = datetime.datetime.fromtimestamp(info.st_mtime, tz=datetime.timezone.utc)
        return FileInfo(target, info.st_size, modified)


def get_local_artifact_store() -> ArtifactStore:
    """The store over this machine's staging root (`[local.storage] staging`)."""
    from lxm3.xm_cluster.targets import local_staging_root

    config = load_config()
    return ArtifactStore(local_staging_root(config), project=config.project_name)


def get_cluster_artifact_store() -> ArtifactStore:
    """Not available: lxm3 reaches a cluster's staging root only through a launch's SSH connection."""
    raise NotImplementedError(
        "lxm3 has no cluster ArtifactStore: code and images are staged by `lxm3 launch` itself "
        "(see docs/compatibility.md)"
    )
