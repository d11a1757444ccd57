"""A staging root belongs to ONE experiment store.

Two stores (two machines, or a second `LXM3_STORE`/`XDG_DATA_HOME`) each number
their experiments from 1; sharing one staging root, one launch overwrote the
other's job files, a Local launch replaced another store's logs, and `lxm3
clean` of one store deleted the other's running experiment. So the first
launch writes `<root>/.lxm3-owner` (`<store identity> <host>:<store file>`),
created exclusively (`set -C`, `O_EXCL`) so two first launches cannot both
win, and every later launch from another store is refused before anything is
written, with one line naming the owner. `lxm3 clean` skips roots it does not own.

The owner file must never be seen half-written: a second thread or launch that
found it empty took an empty owner for a foreign store and refused a launch
into its own root. So the line is written to a private temporary file first and
then hard-linked into place; `link` fails if the name exists and is atomic, so
the owner file exists only with its whole content.
"""

from __future__ import annotations

import os
import shlex
import socket
import threading
from pathlib import Path

from lxm3.transport.base import TransportError

#: The owner file at the top of a staging root.
ROOT_OWNER_FILE = ".lxm3-owner"
_MARK = "lxm3-root-owner"


class StagingRootOwnedError(TransportError):
    """The staging root was claimed by another experiment store."""


def owner_line(identity: str, store_path: Path) -> str:
    """What a store writes as the owner of a root: its identity, then where it lives (for people)."""
    return f"{identity} {socket.gethostname()}:{store_path}"


def identity_of(owner: str) -> str:
    return owner.split(" ", 1)[0]


def _refusal(root: str, where: str, found: str) -> StagingRootOwnedError:
    shown = found.split(" ", 1)[1] if " " in found else found
    return StagingRootOwnedError(
        f"staging root {root} on {where} belongs to another lxm3 experiment store ({shown}); "
        "give each store its own staging directory (the `staging` setting of the config)"
    )


def claim_script(root: str, owner: str) -> str:
    """Shell that claims `root` for `owner`, or prints `lxm3-root-owner <owner>` and exits 3."""
    mark = shlex.quote(f"{root}/{ROOT_OWNER_FILE}")
    draft_q = shlex.quote(f"{root}/{ROOT_OWNER_FILE}.") + "$$"  # this shell's own draft
    return (
        f"mkdir -p {shlex.quote(root)}"
        f" && {{ [ -s {mark} ] || {{ printf '%s\\n' {shlex.quote(owner)} > {draft_q}"
        f" && {{ ln {draft_q} {mark} 2>/dev/null; rm -f {draft_q}; }}; }}; }}"
        f' && {{ [ "$(cut -d" " -f1 {mark})" = {shlex.quote(identity_of(owner))} ]'
        f" || {{ printf '{_MARK} %s\\n' \"$(head -n1 {mark})\"; exit 3; }}; }}"
    )


def check_output(stdout: str, root: str, where: str) -> None:
    """Raises StagingRootOwnedError if `claim_script` found another owner."""
    for line in stdout.splitlines():
        if line.startswith(_MARK + " "):
            raise _refusal(root, where, line[len(_MARK) + 1 :])


def claim_local(root: Path, owner: str) -> None:
    """Claims a staging root on this machine (0700), or raises naming its owner."""
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    if root.stat().st_mode & 0o077:  # made by an older lxm3: staged files hold args and env
        root.chmod(0o700)
    mark = root / ROOT_OWNER_FILE
    if not mark.exists():
        draft = root / f"{ROOT_OWNER_FILE}.{os.getpid()}.{threading.get_ident()}"
        draft.write_text(owner + "\n")
        draft.chmod(0o600)
        try:
            os.link(draft, mark)
        except FileExistsError:
            pass  # another thread or launch claimed it first: its line decides below
        finally:
            draft.unlink()
    found = mark.read_text().strip()
    if identity_of(found) != identity_of(owner):
        raise _refusal(str(root), "this machine", found)


def read_owner_script() -> str:
    """Shell printing the owner line of the root in `$1` (nothing if unclaimed)."""
    return f'head -n1 "$1/{ROOT_OWNER_FILE}" 2>/dev/null; true'
