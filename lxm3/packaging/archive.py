"""Deterministic zip archives: the same files always give the same bytes.

Entries are sorted, timestamps fixed and permissions reduced to "executable
or not", so rebuilding unchanged code yields the same digest and nothing is
re-sent to the cluster.

Members that deflate cannot shrink (model weights, images, archives: already
compressed or random-looking) are stored as they are: deflating 4 MiB of them
costs ~0.15 s of CPU on a first launch and makes them slightly BIGGER. Which
members those are is decided from the content alone (a deflate of three small
samples), so the same files still give the same bytes.
"""

from __future__ import annotations

import os
import stat
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path

_EPOCH = (1980, 1, 1, 0, 0, 0)
_LEVEL = 6
#: Members smaller than this are always deflated (a probe would cost about as much).
_PROBE_MIN = 64 * 1024
_PROBE_SAMPLE = 16 * 1024
#: Stored when deflating the samples saves less than 1/50 of them.
_STORE_BELOW_SAVING = 50
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


def tree_files(root: Path) -> list[tuple[str, str]]:
    """(archive name, path) for every file under root, sorted by name, caches skipped.

    Plain strings: every relaunch walks its sources (`artifact.fingerprint_tree`),
    and pathlib objects were most of that walk's cost.
    """
    top = str(root)
    cut = len(os.path.join(top, ""))
    entries: list[tuple[str, str]] = []
    for dirpath, dirnames, filenames in os.walk(top, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_NAMES)
        for filename in filenames:
            if not filename.endswith((".pyc", ".pyo")):
                path = os.path.join(dirpath, filename)
                entries.append((path[cut:].replace(os.sep, "/"), path))
    entries.sort()
    return entries


def iter_tree(root: Path) -> Iterable[tuple[Path, str]]:
    """(path, archive name) for every file under root, sorted, caches skipped (`tree_files`)."""
    return [(Path(path), name) for name, path in tree_files(root)]


def compress_type(data: bytes) -> int:
    """ZIP_STORED for content deflate does not shrink (by its start, middle and end), else ZIP_DEFLATED."""
    if len(data) < _PROBE_MIN:
        return zipfile.ZIP_DEFLATED
    middle = (len(data) - _PROBE_SAMPLE) // 2
    sample = data[:_PROBE_SAMPLE] + data[middle : middle + _PROBE_SAMPLE] + data[-_PROBE_SAMPLE:]
    saved = len(sample) - len(zlib.compress(sample, _LEVEL))
    return zipfile.ZIP_STORED if saved * _STORE_BELOW_SAVING < len(sample) else zipfile.ZIP_DEFLATED


def write_zip(destination: Path, files: Iterable[tuple[Path, str]]) -> None:
    """Writes files (path, name-in-archive) into a reproducible zip."""
    with zipfile.ZipFile(destination, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=_LEVEL) as bundle:
        for path, name in sorted(files, key=lambda entry: entry[1]):
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            mode = os.stat(path).st_mode
            executable = bool(mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH))
            info.external_attr = ((0o755 if executable else 0o644) | stat.S_IFREG) << 16
            with open(path, "rb") as handle:
                data = handle.read()
            info.compress_type = compress_type(data)
            bundle.writestr(info, data)
