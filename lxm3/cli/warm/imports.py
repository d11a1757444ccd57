"""Learning what commands import, so the warm server has it imported before the next one.

A command imports more than a fixed list could name (rich's renderers on a
first table, a scheduler's parsing, the config reader), and a module's first
use is most of what a warm process saves. Each served child therefore writes
the names of the modules it imported to a file beside the socket; the server
imports them once that child has ended, and a server started later for the
same socket name imports them at its start.

Only modules from the standard library, lxm3 itself and the packages lxm3
requires are taken: the user's own modules (a launcher's helpers, a library
a launcher imports) may change between commands or read the environment when
imported, so they are always imported fresh, in the child.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import sys
from collections.abc import Iterable
from pathlib import Path

from lxm3.files import atomic_write

_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def allowed_roots() -> frozenset[str]:
    """Top-level module names of the standard library, lxm3 and lxm3's required packages."""
    from importlib import metadata

    roots = set(sys.stdlib_module_names) | {"lxm3"}
    try:
        tops: dict[str, set[str]] = {}
        for top, distributions in metadata.packages_distributions().items():
            for distribution in distributions:
                tops.setdefault(_normal(distribution), set()).add(top)
        seen: set[str] = set()
        todo = ["lxm3"]
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            roots |= tops.get(name, set())
            try:
                requirements = metadata.requires(name) or []
            except metadata.PackageNotFoundError:  # (e.g. tomli, required on older Pythons only)
                continue
            for requirement in requirements:
                match = _REQUIREMENT_NAME.match(requirement)
                if match is not None and "extra ==" not in requirement.replace('"', "").replace("'", ""):
                    todo.append(_normal(match[1]))
    except Exception:  # noqa: BLE001 - without metadata, the standard library and lxm3 only
        pass
    return frozenset(roots)


def _learned(socket_path: str) -> str:
    """The file beside a server's socket listing what its children imported."""
    return f"{socket_path}.imports"


def record(socket_path: str, before: set[str]) -> None:
    """Writes the names of the modules imported since `before` (at this child's exit)."""
    names = sorted(set(sys.modules) - before)
    if names:
        with contextlib.suppress(OSError):
            atomic_write(Path(f"{_learned(socket_path)}.{os.getpid()}"), "\n".join(names) + "\n")


def _read(path: str) -> list[str]:
    try:
        with open(path) as handle:
            return handle.read().split()
    except OSError:
        return []


def replay(roots: frozenset[str], names: Iterable[str]) -> list[str]:
    """Imports the allowed `names` not imported yet; returns those it imported."""
    done = []
    for name in names:
        if name in sys.modules or name.split(".", 1)[0] not in roots or name == "__main__":
            continue
        with contextlib.suppress(Exception):
            importlib.import_module(name)
            done.append(name)
    return done


def learn(socket_path: str, pid: int, roots: frozenset[str]) -> None:
    """Imports what the ended child `pid` imported, and keeps it for later servers."""
    path = _learned(socket_path)
    child_file = f"{path}.{pid}"
    names = _read(child_file)
    with contextlib.suppress(OSError):
        os.unlink(child_file)
    learned = replay(roots, names)
    if learned:
        known = set(_read(path))
        with contextlib.suppress(OSError), open(path, "a") as handle:
            handle.write("".join(f"{name}\n" for name in learned if name not in known))


def warm(socket_path: str, roots: frozenset[str]) -> None:
    """Imports what earlier servers of this socket learned."""
    replay(roots, _read(_learned(socket_path)))
