"""The typed errors of the launch API.

Launch scripts catch these by type (XManager's names), so a failed sweep can be
told apart from a cancelled one or a bad experiment id.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lxm3.errors import LxmError


class ExperimentUnitError(LxmError, RuntimeError):
    """An experiment unit could not be launched or completed.

    `work_unit` names the unit the error happened in, when known, so a script
    waiting on many units can tell which one failed.
    """

    def __init__(self, message: Any = "", *, work_unit: Any = None) -> None:
        super().__init__(message)
        self.work_unit = work_unit


class ExperimentUnitFailedError(ExperimentUnitError):
    """A job of the unit failed; the message names the tasks, exit codes and logs."""

    def __init__(
        self, message: Any = "", *, failures: Sequence[object] | None = None, work_unit: Any = None
    ) -> None:
        super().__init__(message, work_unit=work_unit)
        self.failures = list(failures or [])


class ExperimentUnitNotCompletedError(ExperimentUnitError):
    """The unit ended without completing, e.g. it was cancelled."""


class NotFoundError(LxmError, KeyError):
    """An experiment or unit with that id does not exist."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "not found"


class ReloadError(ExperimentUnitError):
    """A stored experiment or unit could not be reloaded: a recorded job cannot be reached,
    restored or resubmitted."""


class JobTypeError(TypeError, ValueError):
    """`add` got something that is not a job: a TypeError, and XManager's ValueError for sync generators."""


# XManager kept these older names as aliases.
WorkUnitError = ExperimentUnitError
WorkUnitFailedError = ExperimentUnitFailedError
WorkUnitNotCompletedError = ExperimentUnitNotCompletedError
