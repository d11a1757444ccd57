"""Content digests: the names artifacts are stored and deployed under.

An artifact's name is the sha256 of its bytes, so a cluster that already has
`<digest>.zip` never receives it again, and two launches of unchanged code
share one copy.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

_CHUNK = 1 << 20


def file_digest(path: Path) -> str:
    """Hex sha256 of a file's content."""
    hasher = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            hasher.update(chunk)
    return hasher.hexdigest()


def bytes_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
