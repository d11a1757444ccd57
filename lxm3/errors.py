"""The root of lxm3's errors that the user must fix.

Every error whose message tells the user what to change (a bad config key, a
package that cannot be built, a refused submission, an unreachable host, a
damaged store, files cleaned from the cluster, an arg no program can receive,
a unit that failed) derives from `LxmError`. The CLI prints those as one line
and exits non-zero, deciding with `isinstance`; anything else is a bug and
gets its location.

This module imports nothing from lxm3, so every layer may use it.
"""

from __future__ import annotations


class LxmError(Exception):
    """An error the user must fix; its message says what and how, in one line."""
