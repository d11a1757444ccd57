"""The transport interface: run a command, send files, fetch files.

Everything that touches the cluster goes through one `Transport`, so a launch
opens exactly one SSH connection (one 2FA prompt) and tests can count it.
Commands are argv lists; the SSH transport quotes them for the remote shell
itself, so no caller ever builds a shell string from user data.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from pathlib import Path

import attrs

from lxm3.errors import LxmError


@attrs.frozen
class CommandResult:
    """What a command printed and how it exited."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


#: The command `expand_user` asks the host (the home directory, as its shell sees it).
HOME_ARGV = ("sh", "-c", 'printf "%s" "$HOME"')


class TransportError(LxmError, RuntimeError):
    """A command or transfer failed; the message carries the command's own error."""


class Transport(abc.ABC):
    """Runs commands and moves files to one host (this machine or a cluster)."""

    #: Human-readable place, e.g. `hpcuser@login1` or `localhost`.
    label: str = "localhost"

    @abc.abstractmethod
    def run(
        self,
        argv: Sequence[str],
        *,
        input: str | None = None,
        check: bool = True,
        timeout: float | None = None,
    ) -> CommandResult:
        """Runs argv on the host; raises TransportError on non-zero exit when `check`."""

    def run_script(self, script: str, *, check: bool = True, timeout: float | None = None) -> CommandResult:
        """Runs a bash script (built only from quoted values) on the host."""
        return self.run(["bash", "-c", script], check=check, timeout=timeout)

    @abc.abstractmethod
    def upload(self, local_dir: Path, remote_dir: str, *, files: Sequence[str] | None = None) -> int:
        """Copies `files` (relative names; all when None) from local_dir into remote_dir.

        Each file appears atomically (written under a temporary name, then
        renamed). Returns the number of bytes sent over the wire (0 for local).
        """

    @abc.abstractmethod
    def download(self, remote_path: str, local_path: Path) -> None:
        """Copies one file from the host."""

    def expand_user(self, path: str) -> str:
        """Expands a leading `~` as the host's shell would."""
        if not path.startswith("~"):
            return path
        home = self.run(HOME_ARGV).stdout
        return home + path[1:] if path == "~" or path.startswith("~/") else path

    def close(self) -> None:
        """Closes the connection, if any."""

    @property
    def bytes_sent(self) -> int:
        """Total bytes this transport sent (for benchmarks and tests)."""
        return 0

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_result(result: CommandResult, what: str) -> CommandResult:
    if result.returncode != 0:
        message = (result.stderr or result.stdout).strip().splitlines()
        detail = message[-1] if message else f"exit code {result.returncode}"
        raise TransportError(f"{what} failed: {detail}")
    return result
