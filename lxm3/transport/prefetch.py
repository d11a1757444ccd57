"""A launch's first questions to a cluster, asked ahead in ONE remote command.

Before it can stage a job, a first launch asks the cluster a few read-only
questions: the scheduler's limits (`scontrol show config`, the per-user job
limits), the home directory behind a `~` staging path. Each is a round trip,
and they used to come one after the other once the project was built. When
`lxm3 launch` connects ahead (`lxm3.transport.preconnect`), it asks them all
at once in the background, while the project builds; the launch's own
`transport.run(argv)` of the same argv is then answered from here, without a
round trip (and without a second connection: it is the same transport).

Only questions whose answer does not depend on when they are asked within a
launch belong here (configuration, not queue state). Each answer is given as
many times as its question was listed, and not after `MAX_AGE` seconds.
"""

from __future__ import annotations

import os
import shlex
import threading
import time
from collections.abc import Sequence

import attrs

from lxm3.transport.base import CommandResult

#: Answers older than this are not given (a long-lived process asks again).
MAX_AGE = 300.0
#: How long a command waits for the answers being fetched before asking itself.
MAX_WAIT = 120.0


@attrs.frozen
class Questions:
    """Commands to ask ahead; `only_if` names a command the host must have (else none is asked)."""

    commands: tuple[tuple[str, ...], ...]
    only_if: str | None = None


def _key(argv: Sequence[str]) -> str:
    return shlex.join(list(argv))


def script(groups: Sequence[Questions], boundary: str) -> str:
    """A bash script running every distinct command at once, each answer framed by `boundary`."""
    distinct = list(dict.fromkeys(argv for group in groups for argv in group.commands))
    lines = ['d="$(mktemp -d)" || exit 1', "trap 'rm -rf \"$d\"' EXIT"]
    launched: set[int] = set()
    for group in groups:
        runs = []
        for argv in group.commands:
            index = distinct.index(argv)
            if index in launched:
                continue  # listed twice: asked once, answered twice
            launched.add(index)
            runs.append(
                f'{{ ( {_key(argv)} ) </dev/null >"$d/{index}.o" 2>"$d/{index}.e"; echo $? >"$d/{index}.r"; }} &'
            )
        if not runs:
            continue
        if group.only_if:
            lines.append(f"if command -v {shlex.quote(group.only_if)} >/dev/null 2>&1; then")
            lines += runs
            lines.append("fi")
        else:
            lines += runs
    lines.append("wait")
    lines.append(
        f"for i in {' '.join(str(i) for i in range(len(distinct)))}; do "
        '[ -e "$d/$i.r" ] || continue; '
        f'printf "%s %s rc %s\\n" {boundary} "$i" "$(cat "$d/$i.r")"; cat "$d/$i.o"; '
        f'printf "\\n%s %s err\\n" {boundary} "$i"; cat "$d/$i.e"; '
        f'printf "\\n%s %s end\\n" {boundary} "$i"; done'
    )
    return "\n".join(lines) + "\n"


def parse(output: str, groups: Sequence[Questions], boundary: str) -> dict[str, CommandResult]:
    """The answers found in `script`'s output, by command (commands not run are absent)."""
    distinct = list(dict.fromkeys(argv for group in groups for argv in group.commands))
    answers: dict[str, CommandResult] = {}
    for index, argv in enumerate(distinct):
        head = f"{boundary} {index} rc "
        start = output.find(head)
        if start < 0:
            continue
        line_end = output.find("\n", start)
        err_mark = output.find(f"\n{boundary} {index} err\n", line_end)
        end_mark = output.find(f"\n{boundary} {index} end\n", err_mark)
        code = output[start + len(head) : line_end].strip()
        if line_end < 0 or err_mark < 0 or end_mark < 0 or not code.isdigit():
            continue
        stdout = output[line_end + 1 : err_mark]
        stderr = output[err_mark + len(f"\n{boundary} {index} err\n") : end_mark]
        answers[_key(argv)] = CommandResult(tuple(argv), int(code), stdout, stderr)
    return answers


class Answers:
    """Answers fetched ahead for one transport; `take` gives each out as many times as it was asked for."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._done.set()  # nothing pending until `expect`
        #: The commands being fetched (None: not known yet, so every command waits).
        self._pending: set[str] | None = set()
        self._answers: dict[str, CommandResult] = {}
        self._uses: dict[str, int] = {}
        self._fetched_at = 0.0
        #: Answers handed out (tests and benchmarks read it).
        self.given = 0
        #: Frames each answer in the script's output (random: no command prints it).
        self.boundary = "@@lxm3-answer-" + os.urandom(8).hex()

    def expect(self) -> None:
        """Some answers will come (which ones is said by `plan`); commands wait for them."""
        with self._lock:
            self._pending = None
            self._done.clear()

    def plan(self, groups: Sequence[Questions]) -> str | None:
        """Says which commands are being fetched; the script that asks them (None: nothing to ask)."""
        uses: dict[str, int] = {}
        for group in groups:
            for argv in group.commands:
                uses[_key(argv)] = uses.get(_key(argv), 0) + 1
        with self._lock:
            self._pending = set(uses)
            self._uses = uses
        if not uses:
            self.finish({})
            return None
        return script(groups, self.boundary)

    def finish(self, answers: dict[str, CommandResult]) -> None:
        """Stores the answers (none if the fetch failed) and lets waiting commands go on."""
        with self._lock:
            self._answers = answers
            self._fetched_at = time.monotonic()
            self._pending = set()
        self._done.set()

    def take(self, argv: Sequence[str]) -> CommandResult | None:
        """The answer fetched ahead for argv, waiting for the fetch if it is on its way; None: ask."""
        if self._done.is_set() and not self._answers:
            return None  # the usual case, without quoting argv
        key = _key(argv)
        with self._lock:
            waiting = self._pending is None or key in self._pending
        if waiting:
            self._done.wait(MAX_WAIT)
        with self._lock:
            answer = self._answers.get(key)
            if answer is None or time.monotonic() - self._fetched_at > MAX_AGE:
                return None
            self._uses[key] -= 1
            if self._uses[key] <= 0:
                del self._answers[key]
            self.given += 1
            return answer
