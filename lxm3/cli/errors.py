"""Turning exceptions into one actionable line and an exit code."""

from __future__ import annotations

import os
import sys
import traceback

from lxm3.errors import LxmError


def fail(message: str, code: int = 1) -> int:
    from lxm3.xm.masking import mask_text

    print(f"lxm3: error: {mask_text(message)}", file=sys.stderr)
    return code


def report(error: BaseException, launcher: str | None = None) -> int:
    """Prints an error briefly; the full traceback only with LXM3_DEBUG=1."""
    if os.environ.get("LXM3_DEBUG") == "1":
        traceback.print_exception(type(error), error, error.__traceback__)
    name = type(error).__name__
    if isinstance(error, LxmError):
        return fail(str(error))
    if isinstance(error, (SyntaxError, ImportError)):
        where = ""
        if isinstance(error, SyntaxError) and error.filename:
            where = f" ({error.filename}:{error.lineno})"
        return fail(
            f"cannot load launcher {launcher}: {name}: {error.msg if isinstance(error, SyntaxError) else error}{where}",
            2,
        )
    frames = traceback.extract_tb(error.__traceback__)
    user = [f for f in frames if launcher and os.path.abspath(f.filename) == os.path.abspath(launcher)]
    chosen = user or frames
    location = f" at {chosen[-1].filename}:{chosen[-1].lineno}" if chosen else ""
    return fail(f"{name}: {error}{location} (set LXM3_DEBUG=1 for the traceback)")
