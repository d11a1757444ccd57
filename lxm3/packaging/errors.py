"""Packaging errors: one line that says what to fix."""


class PackagingError(RuntimeError):
    """The user's code could not be packaged; the message says why and what to do."""
