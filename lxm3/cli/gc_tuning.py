"""Fewer cyclic-GC passes in lxm3's short-lived CLI processes.

A 100,000-task sweep allocates a few objects per task that all live until the
command ends (a launcher's dicts and their SequentialArgs; `lxm3 status`'s
TaskStatus per task). With CPython's default threshold (700 allocations)
every collection rescans them, which took about half of building them.
Objects that exist at the call (modules, classes) are frozen out of the scans;
garbage is still collected, only in passes ~15x rarer. Behaviour is unchanged.

Only the `lxm3` process itself is tuned (`enable()` is called by its entry
point): `main()` called inside another program (tests, a notebook) leaves that
program's collector alone.
"""

from __future__ import annotations

import gc

#: Allocations between young-generation passes (CPython's default: 700).
YOUNG_THRESHOLD = 10_000

_enabled = False


def enable() -> None:
    """Marks this process as the `lxm3` command itself (called by its entry point)."""
    global _enabled
    _enabled = True


def tune_gc() -> None:
    """Freezes what is allocated so far and raises the young generation's threshold."""
    if not _enabled:
        return
    gc.freeze()
    young, middle, old = gc.get_threshold()
    gc.set_threshold(max(YOUNG_THRESHOLD, young), middle, old)
