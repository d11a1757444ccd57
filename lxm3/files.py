"""Putting files in place atomically: under a temporary name in the same directory, then a rename.

Jobs are staged concurrently (one thread per work unit) and several lxm3
processes share caches, so a reader must see either no file or a whole one,
never a half-written one. Every temp-then-rename in lxm3 goes through here.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from pathlib import Path


def _temporary_beside(destination: Path) -> Path:
    """A fresh, unique name in the destination's directory (same filesystem: rename is atomic)."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(
        dir=destination.parent, prefix=f".{destination.name}.{os.getpid()}.{threading.get_ident()}."
    )
    os.close(fd)
    return Path(name)


def atomic_write(path: Path, data: str | bytes) -> None:
    """Writes `data` to `path` so that readers see the old file or the whole new one."""
    temporary = _temporary_beside(path)
    try:
        if isinstance(data, bytes):
            temporary.write_bytes(data)
        else:
            temporary.write_text(data)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def place_atomically(source: Path, destination: Path, *, link: bool = False, move: bool = False) -> None:
    """Puts a copy of `source` (a hard link when `link` and possible; moved when `move`) at `destination`.

    A plain check-then-copy let one staging thread see another's half-written
    runner, or fail with SameFileError when both hard-linked the same artifact.
    """
    temporary = _temporary_beside(destination)
    try:
        if move:
            shutil.move(str(source), temporary)
        else:
            temporary.unlink()
            try:
                if not link:
                    raise OSError("copy requested")
                os.link(source, temporary)
            except OSError:
                shutil.copy2(source, temporary)
        os.replace(temporary, destination)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
