"""Reads of small files that ride on another remote command (`RidingReads`).

Why: on a cluster behind SSH every command is a round trip (and, on a busy
login node, a process start). The workstation's view of a parameter
controller comes from its journal, a small file next to the jobs it
watches; reading it with a command of its own doubled the round trips of
`lxm3 status`. Here the read is put in front of the next command the status
query runs: the same argv, run by `bash` after it printed the files between
random markers, so the command's own output, exit code and stdin are as if
it ran alone.

    RidingReads(transport, paths)   a Transport: its FIRST command also reads `paths`
    .contents                       path -> text (None: no such readable file), once run
    .read_alone()                   one plain command, when the query ran none
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from lxm3.transport.base import CommandResult, Transport, check_result

# $1: the marker, $2: how many paths follow, then the paths, then the command to exec.
_PREFIX = (
    'm=$1; n=$2; shift 2; i=0; while [ "$i" -lt "$n" ]; do '
    'if [ -f "$1" ] && [ -r "$1" ]; then printf "%s %s 1\\n" "$m" "$i"; cat -- "$1" 2>/dev/null; printf "\\n"; '
    'else printf "%s %s 0\\n" "$m" "$i"; fi; i=$((i + 1)); shift; done; printf "%s end\\n" "$m"; '
    'if [ "$#" -eq 0 ]; then exit 0; fi; exec "$@"'
)


def read_argv(marker: str, paths: Sequence[str], argv: Sequence[str] = ()) -> list[str]:
    """The argv that prints `paths` between `marker` lines, then execs `argv` (if any)."""
    return ["bash", "-c", _PREFIX, "lxm3-read", marker, str(len(paths)), *paths, *argv]


def split_output(marker: str, paths: Sequence[str], stdout: str) -> tuple[dict[str, str | None], str]:
    """(path -> its text or None, the command's own stdout) from `read_argv`'s output."""
    contents: dict[str, str | None] = {path: None for path in paths}
    end = f"{marker} end\n"
    head, found, rest = stdout.partition(end)
    if not found:
        raise ValueError("the file reads riding on the status query did not finish")
    # Each file: "<marker> <index> 1\n<text>\n" or "<marker> <index> 0\n".
    for block in head.split(f"{marker} ")[1:]:
        header, _, body = block.partition("\n")
        index, _, present = header.partition(" ")
        if not index.isdigit() or int(index) >= len(paths):
            continue
        if present == "1":
            contents[paths[int(index)]] = body[:-1] if body.endswith("\n") else body
    return contents, rest


def _token() -> str:
    """A random marker part; `secrets` imported here (hashlib, hmac): `lxm3 status` reads no files."""
    import secrets

    return secrets.token_hex(8)


class RidingReads(Transport):
    """A transport whose first command also reads some files; later commands pass through."""

    def __init__(self, inner: Transport, paths: Sequence[str]) -> None:
        self.inner = inner
        self.paths = list(dict.fromkeys(paths))
        self.label = inner.label
        #: path -> text (None: missing); None until a command carried the reads.
        self.contents: dict[str, str | None] | None = None

    def run(
        self,
        argv: Sequence[str],
        *,
        input: str | None = None,
        check: bool = True,
        timeout: float | None = None,
    ) -> CommandResult:
        if self.contents is not None or not self.paths:
            return self.inner.run(argv, input=input, check=check, timeout=timeout)
        marker = f"@@lxm3-{_token()}"
        raw = self.inner.run(read_argv(marker, self.paths, argv), input=input, check=False, timeout=timeout)
        try:
            contents, stdout = split_output(marker, self.paths, raw.stdout)
        except ValueError:
            # bash itself did not get that far (the connection failed): the command's own failure.
            result = CommandResult(tuple(argv), raw.returncode, raw.stdout, raw.stderr)
        else:
            self.contents = contents
            result = CommandResult(tuple(argv), raw.returncode, stdout, raw.stderr)
        return check_result(result, f"{argv[0]} on {self.label}") if check else result

    def read_alone(self) -> dict[str, str | None]:
        """The files, with a command of their own (when no command carried them)."""
        if self.contents is None:
            marker = f"@@lxm3-{_token()}"
            raw = self.inner.run(read_argv(marker, self.paths), check=True)
            self.contents = split_output(marker, self.paths, raw.stdout)[0]
        return self.contents

    def upload(self, local_dir: Path, remote_dir: str, *, files: Sequence[str] | None = None) -> int:
        return self.inner.upload(local_dir, remote_dir, files=files)

    def download(self, remote_path: str, local_path: Path) -> None:
        self.inner.download(remote_path, local_path)

    def expand_user(self, path: str) -> str:
        return self.inner.expand_user(path)
