"""What a launch does when it is interrupted (Ctrl-C, SIGTERM): nothing lost, nothing hidden.

A submission is the one step that cannot be undone from here: once the
scheduler accepted a job, it runs whether or not this process lives to record
it. So every submission goes through the process-wide `GUARD`:

- before deploying and again before submitting, a batch checks `stopping`;
  after an interrupt no new submission starts (`LaunchInterruptedError`);
- a batch already handing scripts to the scheduler is *in flight*: the first
  interrupt waits for it, and its jobs are recorded in the store by the same
  thread the moment the scheduler answers (not by the asyncio task, which the
  interrupt cancels);
- a second interrupt aborts at once: each batch still in flight is recorded as
  FAILED with the reason and the scheduler job name to look for, so even then
  the store says what may be running.

`summary()` is the one line the CLI prints on the way out (what was submitted,
how to cancel it).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import attrs

from lxm3.errors import LxmError


class LaunchInterruptedError(LxmError):
    """The launch was interrupted before this job was submitted: nothing of it runs."""


@attrs.define
class _InFlight:
    """One batch being handed to the scheduler; `abandon` records it if the process must go."""

    what: str
    abandon: Callable[[], None]
    #: "deploying" -> "submitting" -> "recorded" (the thread recorded it) or "abandoned" (the abort did).
    state: str = "deploying"


class Submission:
    """The submitting thread's handle on its in-flight entry."""

    def __init__(self, guard: LaunchGuard, entry: _InFlight) -> None:
        self._guard = guard
        self._entry = entry

    def submitting(self) -> None:
        """The scheduler is about to be asked: from now on the jobs may exist.

        Raises LaunchInterruptedError instead if the launch is stopping.
        """
        with self._guard._condition:
            if self._guard._stopping or self._entry.state not in ("deploying", "submitting"):
                raise LaunchInterruptedError(f"{self._entry.what}: not submitted, the launch was interrupted")
            self._entry.state = "submitting"

    def claim(self) -> bool:
        """True if this thread may record the outcome (the abort has not recorded it already)."""
        with self._guard._condition:
            if self._entry.state == "abandoned":
                return False
            self._entry.state = "recorded"
            return True


class LaunchGuard:
    """Process-wide: whether the launch is stopping, and which submissions are in flight."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._stopping = False
        self._in_flight: dict[int, _InFlight] = {}
        self._next = 0
        #: experiment id -> scheduler job ids recorded (for the exit line).
        self.recorded: dict[int, list[str]] = {}

    @property
    def stopping(self) -> bool:
        return self._stopping

    def stop(self) -> None:
        """No submission starts after this (the first Ctrl-C)."""
        with self._condition:
            self._stopping = True
            self._condition.notify_all()

    def reset(self) -> None:
        """Back to normal (a new launch in the same process, e.g. in tests)."""
        with self._condition:
            if self._in_flight:
                return
            self._stopping = False
            self.recorded.clear()

    def check(self, what: str) -> None:
        """Raises LaunchInterruptedError if the launch is stopping."""
        if self._stopping:
            raise LaunchInterruptedError(f"{what}: not submitted, the launch was interrupted")

    @contextmanager
    def submission(self, what: str, abandon: Callable[[], None]) -> Iterator[Submission]:
        """Marks a deploy+submit in flight; yields its `Submission` handle.

        Raises LaunchInterruptedError (submitting nothing) if the launch is already stopping.
        """
        with self._condition:
            if self._stopping:
                raise LaunchInterruptedError(f"{what}: not submitted, the launch was interrupted")
            key = self._next
            self._next += 1
            entry = _InFlight(what, abandon)
            self._in_flight[key] = entry

        try:
            yield Submission(self, entry)
        finally:
            with self._condition:
                self._in_flight.pop(key, None)
                self._condition.notify_all()

    def note_recorded(self, experiment_id: int, job_ids: list[str]) -> None:
        with self._condition:
            self.recorded.setdefault(experiment_id, []).extend(job_ids)

    @property
    def in_flight(self) -> int:
        with self._condition:
            return len(self._in_flight)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Waits for in-flight submissions to finish; False on timeout.

        Polls in short waits so a second Ctrl-C (KeyboardInterrupt in the main
        thread) is delivered at once.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._condition:
            while self._in_flight:
                if deadline is not None and time.monotonic() >= deadline:
                    return False
                self._condition.wait(0.1)
        return True

    def abandon_in_flight(self) -> list[str]:
        """Records every submission still in flight as possibly submitted; returns what they were.

        One still deploying has submitted nothing: it is dropped, not recorded.
        """
        with self._condition:
            entries = [entry for entry in self._in_flight.values() if entry.state == "submitting"]
            for entry in self._in_flight.values():
                if entry.state in ("deploying", "submitting"):
                    entry.state = "abandoned"
        for entry in entries:
            try:
                entry.abandon()
            except Exception:  # noqa: BLE001 - the abort must go on; the line below still says it
                pass
        # A thread that already has the scheduler's answer is writing its rows: let it finish
        # (milliseconds), or those jobs would run with no record.
        deadline = time.monotonic() + 10
        with self._condition:
            while any(entry.state == "recorded" for entry in self._in_flight.values()):
                if time.monotonic() >= deadline:
                    break
                self._condition.wait(0.05)
        return [entry.what for entry in entries]

    def summary(self, abandoned: list[str] | None = None) -> str:
        """One line: what was submitted and recorded, how to cancel it."""
        with self._condition:
            recorded = {exp: list(ids) for exp, ids in self.recorded.items() if ids}
        parts: list[str] = []
        if recorded:
            for experiment_id, ids in sorted(recorded.items()):
                shown = ", ".join(ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
                parts.append(
                    f"experiment {experiment_id}: {len(ids)} scheduler job(s) submitted and recorded ({shown});"
                    f" cancel with `lxm3 cancel {experiment_id}`"
                )
        else:
            parts.append("nothing was submitted")
        if abandoned:
            parts.append(
                f"{len(abandoned)} submission(s) were cut short and may be running: "
                + ", ".join(abandoned[:3])
                + " (recorded as FAILED; check the scheduler's queue)"
            )
        return "interrupted; " + "; ".join(parts)


#: The one guard of this process.
GUARD = LaunchGuard()


class LaunchAborted(KeyboardInterrupt):
    """A second interrupt while submissions were in flight: they were recorded as cut short."""

    def __init__(self, abandoned: list[str]) -> None:
        super().__init__("aborted")
        self.abandoned = abandoned


def settle_interrupted_launch() -> None:
    """On the first interrupt: submit nothing more and wait for what is in flight to be recorded.

    A second interrupt while waiting records the in-flight submissions as cut
    short and raises LaunchAborted at once.
    """
    GUARD.stop()
    if GUARD.in_flight:
        print(
            f"lxm3: stopping: waiting for {GUARD.in_flight} submission(s) in flight to be recorded"
            " (Ctrl-C again to abort at once)",
            file=sys.stderr,
            flush=True,
        )
    try:
        GUARD.wait_idle()
    except KeyboardInterrupt:
        raise LaunchAborted(GUARD.abandon_in_flight()) from None
