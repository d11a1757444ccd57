"""Writes a job's per-task args and env so any task finds its own in O(1).

The table is JSON lines (`tasks.jsonl`), one task per line, plus a binary
index (`tasks.idx`) of 8-byte little-endian line offsets. The alternative that
lxm3 0.4 used, one shell script holding every task's args, makes each of N
tasks parse all N entries; this keeps a 100,000-task sweep's per-task start
cost the same as a 10-task one. The reader is `task_runner.read_task`.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import struct
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
        # The value itself is not shown: it may be a secret (an API key in the env).
        raise TaskValueError(
            f"{what} contains a NUL byte at character {value.index(chr(0))} of {len(value)}, which no program can receive"
        )
    return value


#: Linux passes at most this many bytes in ONE argument or `NAME=value` string (MAX_ARG_STRLEN).
MAX_ARG_STRLEN = 32 * 4096
#: Room left in the OS limit on argv + environment for what the cluster adds (its own env).
_ENV_HEADROOM = 256 * 1024


@functools.cache
def arg_max() -> int:
    """The OS limit on argv + environment, bytes (this machine's; clusters are alike).

    Cached: a sysconf call per task was a measurable part of a 100,000-task table.
    """
    try:
        return int(os.sysconf("SC_ARG_MAX"))
    except (ValueError, OSError, AttributeError):
        return 2 * 1024 * 1024


def check_sizes(task_id: int, args: Sequence[str], env: Mapping[str, str]) -> None:
    """Raises TaskValueError for a task whose program could not be started (E2BIG).

    Checked at launch, so a 10 MB argument is one line naming the task now,
    not "Argument list too long" in a log once the job ran.
    """
    total = 0
    for position, arg in enumerate(args):
        size = len(arg.encode("utf-8", "surrogateescape")) + 1
        if size > MAX_ARG_STRLEN:
            raise TaskValueError(
                f"task {task_id}: argument {position} is {size - 1} bytes; one argument can be at most "
                f"{MAX_ARG_STRLEN - 1} bytes (pass large data in a file)"
            )
        total += size + 8
    for key, value in env.items():
        size = len(key.encode()) + len(value.encode("utf-8", "surrogateescape")) + 2
        if size > MAX_ARG_STRLEN:
            raise TaskValueError(
                f"task {task_id}: env {key} is {size} bytes; one variable can be at most {MAX_ARG_STRLEN - 1} bytes"
            )
        total += size + 8
    limit = arg_max() - _ENV_HEADROOM
    if total > limit:
        raise TaskValueError(
            f"task {task_id}: its arguments and environment take {total} bytes; the OS limit leaves {limit} "
            "(pass large data in a file)"
        )


#: One encoder for every line: `json.dumps(..., separators=...)` builds a new one per call.
_ENCODER = json.JSONEncoder(separators=(",", ":"))
#: The string escaper `_ENCODER` uses (ensure_ascii), for lines built without it.
_QUOTE = json.encoder.encode_basestring_ascii
_STR_ONLY = frozenset({str})


#: Below this bound on a task's args (no env), neither limit of `check_sizes` can be reached.
_ARGS_ONLY_BOUND = min(MAX_ARG_STRLEN, arg_max() - _ENV_HEADROOM + 1)


def _checked_env(env: Mapping[str, str], task_id: int) -> dict[str, str]:
    env_out: dict[str, str] = {}
    for key, value in env.items():
        if not key or "=" in key or "\0" in key:
            raise TaskValueError(f"task {task_id}: invalid environment variable name {key!r}")
        env_out[key] = _check_text(str(value), f"task {task_id}: env {key}")
    return env_out


def _check_bound(task_id: int, texts: Sequence[str], env: Mapping[str, str], arg_chars: int) -> None:
    """`check_sizes`, skipped when a cheap upper bound already fits both limits.

    UTF-8 takes at most 4 bytes a character, so a sweep's usual task (short flags) needs no
    exact count, which would encode every value once more.
    """
    chars = arg_chars + sum(map(len, env)) + sum(map(len, env.values()))
    bound = 4 * chars + 9 * len(texts) + 10 * len(env)
    if bound >= MAX_ARG_STRLEN or bound > arg_max() - _ENV_HEADROOM:
        check_sizes(task_id, texts, env)


def encode_task(args: Sequence[Any], env: Mapping[str, str], task_id: int) -> bytes:
    """One task's line of the table."""
    if set(map(type, args)) <= _STR_ONLY:
        # The usual task (only plain strings): checked and written without per-item Python
        # work. The line is the same bytes `_ENCODER` writes (same escaping, same separators).
        joined = "\n".join(args)
        if "\0" not in joined:
            quote = _QUOTE
            if not env:
                if 4 * len(joined) + 9 * len(args) >= _ARGS_ONLY_BOUND:
                    check_sizes(task_id, args, {})
                return f'{{"args":[{",".join(map(quote, args))}],"env":{{}}}}\n'.encode()
            env_out = _checked_env(env, task_id)
            _check_bound(task_id, args, env_out, len(joined) - max(len(args) - 1, 0))
            env_json = ",".join([f"{quote(key)}:{quote(value)}" for key, value in env_out.items()])
            return f'{{"args":[{",".join(map(quote, args))}],"env":{{{env_json}}}}}\n'.encode()
    items: list[Any] = []
    for arg in args:
        if isinstance(arg, ShellSafeArg):
            items.append({SHELL_ITEM_KEY: _check_text(arg.arg, f"task {task_id}: shell arg")})
        else:
            text = arg if type(arg) is str else str(arg)
            if "\0" in text:
                _check_text(text, f"task {task_id}: argument")
            items.append(text)
    env_out = _checked_env(env, task_id)
    texts = [item if type(item) is str else item[SHELL_ITEM_KEY] for item in items]
    _check_bound(task_id, texts, env_out, sum(map(len, texts)))
    return (_ENCODER.encode({"args": items, "env": env_out}) + "\n").encode("utf-8")


def encode_columns(columns: Sequence[Sequence[str]], count: int) -> list[str] | None:
    """The lines of `count` tasks given as argv columns (column k: every task's k-th argument), no env.

    The same text `encode_task` gives each task (ASCII: the escaper's
    `ensure_ascii`), built a column at a time: a 100,000-task sweep's table
    without Python work per task and argument. None when a task could need
    one of `encode_task`'s checks (a NUL byte, a size near the OS limits):
    the caller then encodes those tasks one by one, which raises as it should.
    """
    if not columns:
        return ['{"args":[],"env":{}}\n'] * count
    widest = 0
    for column in columns:
        joined = "".join(column)
        if "\0" in joined:
            return None
        widest += max(map(len, column), default=0)
    # `encode_task`'s own bound, for the longest possible task (each column's longest item).
    if 4 * (widest + len(columns) - 1) + 9 * len(columns) >= _ARGS_ONLY_BOUND:
        return None
    quoted = [list(map(_QUOTE, column)) for column in columns]
    return ['{"args":[' + ",".join(items) + '],"env":{}}\n' for items in zip(*quoted, strict=True)]


#: INDEX_ENTRY's byte order and type, to pack a block's offsets in one call.
_ORDER, _ENTRY = INDEX_ENTRY.format[0], INDEX_ENTRY.format[1:]


def _open_table(directory: Path) -> Any:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    # 0600: the table holds every task's env (API keys); the cluster side is 0600 too.
    descriptor = os.open(directory / TABLE_NAME, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)
    return open(descriptor, "wb", buffering=1 << 20)


def _write_index(directory: Path, offsets: bytes) -> None:
    index = directory / INDEX_NAME
    index.write_bytes(offsets)
    index.chmod(0o600)


def write_task_table(directory: Path, tasks: Iterable[tuple[Sequence[Any], Mapping[str, str]]]) -> int:
    """Writes `tasks.jsonl` and `tasks.idx` into `directory`; returns the task count."""
    offsets = bytearray()
    count = 0
    pack = INDEX_ENTRY.pack
    with _open_table(directory) as table:
        offset = 0
        for task_id, (args, env) in enumerate(tasks):
            line = encode_task(args, env, task_id)
            offsets += pack(offset)
            table.write(line)
            offset += len(line)
            count += 1
    _write_index(directory, bytes(offsets))
    return count


def write_task_lines(directory: Path, blocks: Iterable[Sequence[str]]) -> int:
    """`write_task_table` for tasks already encoded: blocks of ASCII lines, one per task, in order.

    The same two files, byte for byte; a block's offsets are packed in one call.
    """
    offsets = bytearray()
    count = 0
    with _open_table(directory) as table:
        offset = 0
        for block in blocks:
            starts = list(itertools.accumulate(map(len, block), initial=offset))
            offset = starts.pop()
            offsets += struct.pack(f"{_ORDER}{len(starts)}{_ENTRY}", *starts)
            table.write("".join(block).encode("ascii"))
            count += len(block)
    _write_index(directory, bytes(offsets))
    return count
