"""Packaging errors: one line that says what to fix."""

from lxm3.errors import LxmError


class PackagingError(LxmError, RuntimeError):
    """The user's code could not be packaged; the message says why and what to do."""
