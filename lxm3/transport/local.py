"""The transport for this machine: launching from a login node, or the Local executor."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from lxm3.files import place_atomically
from lxm3.transport.base import CommandResult, Transport, TransportError, check_result


class LocalTransport(Transport):
    """Runs commands with subprocess and copies files with atomic renames."""

    label = "localhost"

    def run(
        self,
        argv: Sequence[str],
        *,
        input: str | None = None,
        check: bool = True,
        timeout: float | None = None,
    ) -> CommandResult:
        try:
            completed = subprocess.run(
                list(argv),
                input=input,
                capture_output=True,
                encoding="utf-8",
                errors="replace",
                timeout=timeout,
            )
        except FileNotFoundError as error:
            completed = subprocess.CompletedProcess(
                list(argv), 127, "", f"{argv[0]}: command not found ({error})"
            )
        except subprocess.TimeoutExpired as error:
            # The Transport contract (and SSHTransport): failures are TransportErrors.
            raise TransportError(f"{argv[0]} on {self.label} timed out after {timeout} s") from error
        result = CommandResult(tuple(argv), completed.returncode, completed.stdout, completed.stderr)
        return check_result(result, argv[0]) if check else result

    def upload(self, local_dir: Path, remote_dir: str, *, files: Sequence[str] | None = None) -> int:
        target_root = Path(os.path.expanduser(remote_dir))
        if local_dir.resolve() == target_root.resolve():
            return 0
        names = (
            list(files)
            if files is not None
            else [str(p.relative_to(local_dir)) for p in local_dir.rglob("*") if p.is_file()]
        )
        for name in names:
            target = target_root / name
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            place_atomically(local_dir / name, target)
        return 0

    def expand_user(self, path: str) -> str:
        return os.path.expanduser(path)

    def download(self, remote_path: str, local_path: Path) -> None:
        shutil.copyfile(os.path.expanduser(remote_path), local_path)
