"""Small UniversalPackage directories for tests: the files, and a build.sh that copies them.

Many tests need "a package whose task is this script"; this writes it once,
the same way everywhere (`build.sh` copies every file into `$BUILDDIR`).
"""

from __future__ import annotations

import shlex
from pathlib import Path


def universal_package(directory: Path, files: dict[str, str]) -> Path:
    """Writes `files` (name -> text) and an executable build.sh copying them; returns `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text)
    names = " ".join(shlex.quote(name) for name in files)
    build = directory / "build.sh"
    build.write_text(f'#!/bin/sh\ncp {names} "$BUILDDIR/"\n')
    build.chmod(0o755)
    return directory
