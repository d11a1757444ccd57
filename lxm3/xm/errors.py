"""The typed errors of the launch API.

Launch scripts catch these by type (XManager's names), so a failed sweep can be
told apart from a cancelled one or a bad experiment id.
"""

from __future__ import annotations

from collections.abc import Sequence

from lxm3.errors import LxmError


class ExperimentUnitError(LxmError, RuntimeError):
    """An experiment unit could not be launched or completed."""


class ExperimentUnitFailedError(ExperimentUnitError):
    """A job of the unit failed; the message names the tasks, exit codes and logs."""

    def __init__(self, message: str, *, failures: Sequence[object] | None = None) -> None:
        super().__init__(message)
        self.failures = list(failures or [])


class ExperimentUnitNotCompletedError(ExperimentUnitError):
    """The unit ended without completing, e.g. it was cancelled."""


class NotFoundError(LxmError, KeyError):
    """An experiment or unit with that id does not exist."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "not found"


# XManager kept these older names as aliases.
WorkUnitError = ExperimentUnitError
WorkUnitFailedError = ExperimentUnitFailedError
WorkUnitNotCompletedError = ExperimentUnitNotCompletedError
