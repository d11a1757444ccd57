"""Deterministic zip archives: the same files always give the same bytes.

Entries are sorted, timestamps fixed and permissions reduced to "executable
or not", so rebuilding unchanged code yields the same digest and nothing is
re-sent to the cluster.
"""

from __future__ import annotations

import os
import stat
import zipfile
from collections.abc import Iterable
from pathlib import Path

_EPOCH = (1980, 1, 1, 0, 0, 0)
SKIPPED_NAMES = frozenset(
    {
        "__pycache__",
        ".git",
        ".hg",
        ".svn",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".venv",
        ".tox",
        ".nox",
        "node_modules",
    }
)


def iter_tree(root: Path) -> Iterable[tuple[Path, str]]:
    """(absolute path, archive name) for every file under root, sorted, caches skipped."""
    entries: list[tuple[Path, str]] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_NAMES)
        for filename in filenames:
            if filename.endswith((".pyc", ".pyo")):
                continue
            path = Path(dirpath) / filename
            entries.append((path, path.relative_to(root).as_posix()))
    return sorted(entries, key=lambda entry: entry[1])


def write_zip(destination: Path, files: Iterable[tuple[Path, str]]) -> None:
    """Writes files (path, name-in-archive) into a reproducible zip."""
    with zipfile.ZipFile(destination, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as bundle:
        for path, name in sorted(files, key=lambda entry: entry[1]):
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            mode = os.stat(path).st_mode
            executable = bool(mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH))
            info.external_attr = ((0o755 if executable else 0o644) | stat.S_IFREG) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            with open(path, "rb") as handle:
                bundle.writestr(info, handle.read())
