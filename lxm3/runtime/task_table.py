"""Writes a job's per-task args and env so any task finds its own in O(1).

The table is JSON lines (`tasks.jsonl`), one task per line, plus a binary
index (`tasks.idx`) of 8-byte little-endian line offsets. The alternative that
lxm3 0.4 used, one shell script holding every task's args, makes each of N
tasks parse all N entries; this keeps a 100,000-task sweep's per-task start
cost the same as a 10-task one. The reader is `task_runner.read_task`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from lxm3.errors import LxmError
from lxm3.runtime.job_paths import INDEX_NAME, TABLE_NAME
from lxm3.runtime.task_runner import INDEX_ENTRY, SHELL_ITEM_KEY
from lxm3.xm.shell_safe import ShellSafeArg


class TaskValueError(LxmError, ValueError):
    """An arg or env value that no program could receive (e.g. a NUL byte)."""


def _check_text(value: str, what: str) -> str:
    if "\0" in value:
        raise TaskValueError(f"{what} contains a NUL byte, which no program can receive: {value!r}")
    return value


#: One encoder for every line: `json.dumps(..., separators=...)` builds a new one per call.
_ENCODER = json.JSONEncoder(separators=(",", ":"))


def encode_task(args: Sequence[Any], env: Mapping[str, str], task_id: int) -> bytes:
    """One task's line of the table."""
    items: list[Any] = []
    for arg in args:
        if isinstance(arg, ShellSafeArg):
            items.append({SHELL_ITEM_KEY: _check_text(arg.arg, f"task {task_id}: shell arg")})
        else:
            text = arg if type(arg) is str else str(arg)
            if "\0" in text:
                _check_text(text, f"task {task_id}: argument")
            items.append(text)
    env_out: dict[str, str] = {}
    for key, value in env.items():
        if not key or "=" in key or "\0" in key:
            raise TaskValueError(f"task {task_id}: invalid environment variable name {key!r}")
        env_out[key] = _check_text(str(value), f"task {task_id}: env {key}")
    return (_ENCODER.encode({"args": items, "env": env_out}) + "\n").encode("utf-8")


def write_task_table(directory: Path, tasks: Iterable[tuple[Sequence[Any], Mapping[str, str]]]) -> int:
    """Writes `tasks.jsonl` and `tasks.idx` into `directory`; returns the task count."""
    directory.mkdir(parents=True, exist_ok=True)
    offsets = bytearray()
    count = 0
    pack = INDEX_ENTRY.pack
    with open(directory / TABLE_NAME, "wb", buffering=1 << 20) as table:
        offset = 0
        for task_id, (args, env) in enumerate(tasks):
            line = encode_task(args, env, task_id)
            offsets += pack(offset)
            table.write(line)
            offset += len(line)
            count += 1
    (directory / INDEX_NAME).write_bytes(bytes(offsets))
    return count
