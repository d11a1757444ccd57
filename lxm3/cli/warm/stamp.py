"""Which warm server may serve this `lxm3` process: a digest of everything that shapes the interpreter.

A server forked children from modules it imported minutes ago. It may serve
a command only if a fresh process would have imported the same code into the
same interpreter: the same Python and venv, the same lxm3 files (any edit
changes a file's mtime or size), the same installed packages (installing or
removing one changes its site directory's mtime), and the same PYTHON*
and locale variables (the import path, stdio encodings, flags). The other
variables are the child's own: it takes the caller's whole environment.
Costs ~2 ms (a stat of lxm3's ~300 files), paid on every served command.
"""

from __future__ import annotations

import os
import sys

try:  # built into CPython: no OpenSSL to load, unlike hashlib (~6 ms of the `lxm3` process)
    from _blake2 import blake2b
except ImportError:  # pragma: no cover - other interpreters
    from hashlib import blake2b

#: Environment variables read while Python starts or while modules are imported.
_SHAPING_PREFIXES = ("PYTHON", "LC_")
_SHAPING_NAMES = ("LANG", "LANGUAGE", "VIRTUAL_ENV", "TZ")


def _lxm3_files(digest: blake2b) -> None:
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    stack = [root]
    while stack:
        directory = stack.pop()
        with os.scandir(directory) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                if entry.name == "__pycache__":
                    continue
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                    continue
                info = entry.stat()
                digest.update(f"{entry.path}\0{info.st_mtime_ns}\0{info.st_size}\n".encode(errors="replace"))


def compute(environ: dict[str, str] | None = None) -> str:
    """The digest naming the server that may serve a process with this interpreter and `environ`."""
    env = os.environ if environ is None else environ
    digest = blake2b(digest_size=12)
    digest.update(
        f"{sys.executable}\0{sys.version}\0{sys.prefix}\0{sys.flags}\0{os.getuid()}\n".encode(
            errors="replace"
        )
    )
    for position, entry in enumerate(sys.path):
        # (not the first entry's mtime: it is the command's own directory, the venv's bin/ or,
        # with `python -m`, the working directory, where files come and go)
        try:
            mtime = os.stat(entry).st_mtime_ns if entry and position > 0 else -1
        except OSError:
            mtime = -1
        digest.update(f"path\0{entry}\0{mtime}\n".encode(errors="replace"))
    for name in sorted(env):
        if name.startswith(_SHAPING_PREFIXES) or name in _SHAPING_NAMES:
            digest.update(f"env\0{name}\0{env[name]}\n".encode(errors="replace"))
    _lxm3_files(digest)
    return digest.hexdigest()
