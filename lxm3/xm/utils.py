"""Small helpers that XManager exposes to launch scripts (`xm.utils`)."""

from __future__ import annotations

import asyncio
import enum
import functools
import os
import shlex
import sys
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from lxm3.xm.shell_safe import ShellSafeArg

T = TypeVar("T")

__all__ = [
    "ARG_ESCAPER",
    "ShellSafeArg",
    "find_launch_script_path",
    "resolve_path_relative_to_launcher",
    "run_in_asyncio_loop",
    "trivial_kwargs_joiner",
]


def ARG_ESCAPER(value: Any) -> str:  # noqa: N802 - XManager's public name
    """Quotes one argument for a shell line: ShellSafeArgs as they are, enums by name."""
    if isinstance(value, ShellSafeArg):
        return value.arg
    if isinstance(value, enum.Enum):
        return shlex.quote(str(value.name))
    return shlex.quote(str(value))


def trivial_kwargs_joiner(key: str, value: str) -> str:
    """Joins a flag and its value with `=`."""
    return f"{key}={value}"


def run_in_asyncio_loop(function: Callable[..., Coroutine[Any, Any, T]]) -> Callable[..., T]:
    """Turns `async def main(argv)` into a plain function for `app.run(main)`."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        return asyncio.run(function(*args, **kwargs))

    return wrapper


@functools.lru_cache
def find_launch_script_path() -> str:
    """The absolute path of the launch script ('' when there is none, e.g. a REPL)."""
    path = sys.argv[0] if sys.argv else ""
    if not path.endswith(".py"):
        # e.g. `lxm3 launch script.py` or a zipapp: the main module's file is the script.
        main_file = getattr(sys.modules.get("__main__"), "__file__", None)
        if main_file and os.access(main_file, os.R_OK):
            path = main_file
    return os.path.abspath(path) if path else ""


def resolve_path_relative_to_launcher(path: str) -> str:
    """An absolute path for `path`, read relative to the launch script's directory.

    So a launcher can name its own project as `"."` or `".."` wherever it is
    run from. Raises RuntimeError when the launch script cannot be found
    (e.g. it changed the working directory before the first call).
    """
    if os.path.isabs(path):
        return path
    script = find_launch_script_path()
    if not script or not os.access(script, os.R_OK):
        raise RuntimeError(
            f"Unable to determine launch script path. The script is not present at {script!r}. "
            "This may happen if launch script changes the working directory."
        )
    return os.path.realpath(os.path.join(os.path.dirname(os.path.realpath(script)), path))
