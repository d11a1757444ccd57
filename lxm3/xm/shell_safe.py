"""Arguments that the shell is meant to expand.

Every other argument reaches the user's program byte for byte. A
`ShellSafeArg` is the explicit opt-in for the opposite: its text is expanded
by bash inside the task (so `ShellSafeArg("$LXM_TASK_ID")` becomes the task
index), exactly as XManager scripts expect.
"""

from __future__ import annotations

import attrs


@attrs.frozen
class ShellSafeArg:
    """Text that is passed to the task's shell unquoted, for expansion there."""

    arg: str

    def __str__(self) -> str:
        """Refused, as in XManager: an f-string would silently drop the shell semantics."""
        raise RuntimeError(f"Converting {self!r} to a string would strip the ShellSafe semantics.")
