"""This user's private runtime directories (0700), shared by SSH sockets and the warm server.

Unix sockets there (an SSH master, lxm3's warm process) are as good as the
user's own credentials, so a directory that another user could enter or that
is a symlink is refused rather than used. Stdlib only: the `lxm3` command's
fast path imports this before anything else.
"""

from __future__ import annotations

import os
import stat


def private_dir(name: str) -> str | None:
    """`$XDG_RUNTIME_DIR/<name>` (else `/tmp/<name>-<uid>`), created 0700; None if not safe to use."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    base = runtime if runtime and os.path.isdir(runtime) else None
    path = os.path.join(base, name) if base else f"/tmp/{name}-{os.getuid()}"
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError:
        return None
    try:
        info = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        return None
    return path
