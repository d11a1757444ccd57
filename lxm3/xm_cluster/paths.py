"""Where relative paths in a launch script point: the launcher's own folder.

`PythonPackage(path=".")` means "the folder of the launch script", wherever
the user runs `lxm3 launch` from, as in lxm3 0.4.
"""

from __future__ import annotations

import os
import sys


def launcher_dir() -> str:
    main = sys.modules.get("__main__")
    main_file = getattr(main, "__file__", None)
    override = os.environ.get("LXM3_LAUNCHER_DIR")
    if override:
        return override
    if main_file:
        return os.path.dirname(os.path.abspath(main_file))
    return os.getcwd()


def resolve_relative_to_launcher(path: str) -> str:
    path = os.path.expanduser(str(path))
    if os.path.isabs(path):
        return os.path.normpath(path)
    return os.path.normpath(os.path.join(launcher_dir(), path))
