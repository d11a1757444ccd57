"""The local "scheduler": runs a job's tasks as subprocesses on this machine.

Same job script and task runner as on a cluster; the difference is that this
process is the scheduler. At most `max_parallel` tasks of a job run at once;
each task's stdout/stderr go to its own log files under the job's log dir and,
prefixed with the task id, to the terminal.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from lxm3.runtime.runner_dependencies import DEPENDENCY_NOT_MET, term_holds, unmet_reason
from lxm3.runtime.task_runner import write_exit_code
from lxm3.schedulers.base import (
    ArrayChunk,
    JobScript,
    LazyTemplates,
    RenderRequest,
    Scheduler,
    SubmittedJob,
)
from lxm3.transport.base import Transport
from lxm3.xm.status import TaskState, TaskStatus

_output_lock = threading.Lock()


def _pump(stream: IO[bytes], log: IO[bytes], prefix: bytes, terminal: Any) -> None:
    """Copies a task's output line by line to its log and, prefixed, to the terminal."""
    for line in iter(stream.readline, b""):
        log.write(line)
        log.flush()
        if terminal is not None:
            with _output_lock:
                terminal.write(prefix + line if line.endswith(b"\n") else prefix + line + b"\n")
                terminal.flush()
    stream.close()


class LocalJob:
    """The tasks of one submitted local job, run by a small worker pool."""

    def __init__(
        self,
        job_id: str,
        script: Path,
        chunk: ArrayChunk,
        log_dir: Path,
        max_parallel: int,
        label: str,
        echo: bool,
        task_ids: list[int] | None = None,
        hold: Callable[[int], bool | str | None] | None = None,
    ) -> None:
        self.job_id = job_id
        #: A dependency's gate: True (run), a reason (never: cancel), None (not yet).
        self.hold = hold
        #: Global task id at each array position (a rerun's index map); None: offset + position.
        self.task_ids = task_ids
        self.script = script
        self.chunk = chunk
        self.log_dir = log_dir
        self.label = label
        self.echo = echo
        self._lock = threading.Lock()
        self._pending = list(chunk.task_ids)
        self._statuses: dict[int, TaskStatus] = {
            task: TaskStatus(task, TaskState.PENDING, job_id=job_id) for task in chunk.task_ids
        }
        self._processes: dict[int, subprocess.Popen[bytes]] = {}
        self._cancelled = False
        self._done = threading.Event()
        self._workers = [
            threading.Thread(target=self._work, name=f"lxm3-local-{job_id}-{n}", daemon=True)
            for n in range(max(1, min(max_parallel, chunk.count)))
        ]
        for worker in self._workers:
            worker.start()
        threading.Thread(target=self._finish_when_idle, daemon=True).start()

    def _finish_when_idle(self) -> None:
        for worker in self._workers:
            worker.join()
        self._done.set()

    def _next(self) -> int | None:
        with self._lock:
            if self._cancelled or not self._pending:
                return None
            return self._pending.pop(0)

    def _work(self) -> None:
        while (task := self._next()) is not None:
            self._run(task)

    def _await_hold(self, task: int) -> str | None:
        """Waits until the task's dependency holds (None) or never will (the reason)."""
        assert self.hold is not None
        while not self._cancelled:
            decision = self.hold(task)
            if decision is True:
                return None
            if isinstance(decision, str):
                return decision
            time.sleep(0.05)
        return None  # cancelled while held: `_run` reports it

    def _run(self, task: int) -> None:
        env = dict(os.environ, LXM_ARRAY_INDEX=str(task - self.chunk.offset))
        global_id = task if self.task_ids is None else self.task_ids[task - self.chunk.offset]
        out_path = self.log_dir / f"{global_id}.out"
        err_path = self.log_dir / f"{global_id}.err"
        reason = self._await_hold(task) if self.hold is not None else None
        if reason is not None:
            with open(err_path, "ab") as err_log:
                err_log.write(f"lxm3: task {global_id} not run: {reason}\n".encode())
            write_exit_code(str(self.log_dir), global_id, DEPENDENCY_NOT_MET)
            with self._lock:
                self._statuses[task] = TaskStatus(
                    task, TaskState.CANCELLED, exit_code=None, message=reason, job_id=self.job_id
                )
            return
        terminal = getattr(sys.stdout, "buffer", None) if self.echo else None
        terminal_err = getattr(sys.stderr, "buffer", None) if self.echo else None
        # Escaped: a job name with a newline must not break the terminal's lines.
        shown = self.label.encode("unicode_escape").decode("ascii")
        prefix = f"[{shown} {global_id}] ".encode()
        with open(out_path, "ab") as out_log, open(err_path, "ab") as err_log:
            with self._lock:
                if self._cancelled:
                    # Taken from the queue just before the cancel: never started, so cancelled
                    # (left PENDING, waiters would wait for it forever).
                    self._statuses[task] = TaskStatus(task, TaskState.CANCELLED, job_id=self.job_id)
                    return
                process = subprocess.Popen(
                    ["bash", str(self.script)],
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
                self._processes[task] = process
                self._statuses[task] = TaskStatus(task, TaskState.RUNNING, job_id=self.job_id)
            assert process.stdout is not None and process.stderr is not None
            pumps = [
                threading.Thread(target=_pump, args=(process.stdout, out_log, prefix, terminal), daemon=True),
                threading.Thread(
                    target=_pump, args=(process.stderr, err_log, prefix, terminal_err), daemon=True
                ),
            ]
            for pump in pumps:
                pump.start()
            code = process.wait()
            for pump in pumps:
                pump.join()
        if code < 0:  # killed by a signal: report it as a shell (and the .exit file) does, 128 + N
            code = 128 - code
        with self._lock:
            self._processes.pop(task, None)
            if self._cancelled and code != 0:
                state = TaskState.CANCELLED
            else:
                state = TaskState.COMPLETED if code == 0 else TaskState.FAILED
                # The completion file, as the runner leaves it on a cluster: other processes
                # (`lxm3 status`) read it; a cancelled task leaves none.
                write_exit_code(str(self.log_dir), global_id, code)
            self._statuses[task] = TaskStatus(
                task, state, exit_code=code, log_path=str(err_path if code else out_path), job_id=self.job_id
            )

    def cancel(self) -> None:
        """Stops pending tasks and sends SIGTERM to running ones (the runner forwards it)."""
        with self._lock:
            self._cancelled = True
            for task in self._pending:
                self._statuses[task] = TaskStatus(task, TaskState.CANCELLED, job_id=self.job_id)
            self._pending.clear()
            processes = list(self._processes.values())
        for process in processes:
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def statuses(self) -> dict[int, TaskStatus]:
        with self._lock:
            return dict(self._statuses)

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)


class LocalScheduler(Scheduler):
    """Runs job scripts on this machine; keeps job state in this process."""

    name = "local"
    #: Asking this process about its own subprocesses costs nothing: notice ends quickly.
    first_poll_interval = 0.05
    knows_exit_codes_first = True

    def __init__(self, *, echo: bool = True) -> None:
        self._templates = LazyTemplates()
        self._jobs: dict[str, LocalJob] = {}
        self._counter = 0
        self._lock = threading.Lock()
        self.echo = echo

    def render(self, request: RenderRequest) -> str:
        return self._templates.get_template("local.sh.j2").render(**request.template_vars())

    def submit_argv(self, script: JobScript) -> list[str]:
        """How each task is run (with LXM_ARRAY_INDEX set to its position)."""
        return ["bash", script.path]

    def submit(self, transport: Transport, scripts: Sequence[JobScript]) -> list[SubmittedJob]:
        """Starts a worker pool per script; this process is the scheduler."""
        del transport  # always this machine
        submitted = []
        for script in scripts:
            request = script.request
            with self._lock:
                self._counter += 1
                job_id = f"local-{os.getpid()}-{self._counter}"
            max_parallel = request.directives.max_parallel or os.cpu_count() or 1
            task_ids = None
            if request.index_map is not None:
                task_ids = [int(line) for line in Path(request.index_map).read_text().split()]
            job = LocalJob(
                job_id,
                Path(script.path),
                request.chunk,
                Path(request.log_dir),
                max_parallel,
                request.label,
                self.echo,
                task_ids,
                hold=None if request.dependency is None else self._gate(request.dependency),
            )
            self._jobs[job_id] = job
            submitted.append(SubmittedJob(job_id, request.chunk, script.path))
        return submitted

    def _gate(self, dependency: Any) -> Callable[[int], bool | str | None]:
        """The in-process hold of a dependent job: the same conditions as on a cluster."""

        def term_state(term: Any, task: int) -> bool | None:
            statuses: list[TaskStatus] = []
            for job in term.jobs:
                for job_id in job.job_ids:
                    local = self._jobs.get(job_id)
                    if local is None:
                        return False  # not run by this process: it can never be seen to end
                    known = local.statuses()
                    statuses.extend([known[task]] if term.per_task and task in known else known.values())
            if term.condition == "started":
                return True if any(s.state is not TaskState.PENDING for s in statuses) else None
            if not all(s.state.is_terminal for s in statuses):
                return None
            codes = [
                0
                if s.state is TaskState.COMPLETED
                else (s.exit_code or 1)
                if s.state is TaskState.FAILED
                else None
                for s in statuses
            ]
            return term_holds(term.condition, codes)

        def decide(task: int) -> bool | str | None:
            states = [(term, term_state(term, task)) for term in dependency.terms]
            if dependency.mode == "any":
                if any(state is True for _, state in states):
                    return True
                if any(state is None for _, state in states):
                    return None
                return unmet_reason(states[0][0].runner_spec())
            for term, state in states:
                if state is False:
                    return unmet_reason(term.runner_spec())
            return None if any(state is None for _, state in states) else True

        return decide

    def query(self, transport: Transport, jobs: Sequence[SubmittedJob]) -> dict[str, dict[int, TaskStatus]]:
        del transport
        return {job.job_id: self._jobs[job.job_id].statuses() for job in jobs if job.job_id in self._jobs}

    def cancel(self, transport: Transport, job_ids: Sequence[str]) -> None:
        del transport
        for job_id in job_ids:
            local = self._jobs.get(job_id)
            if local is not None:
                local.cancel()

    def wait(self, job_ids: Sequence[str], timeout: float | None = None) -> None:
        """Blocks until the given local jobs have no running or pending task."""
        for job_id in job_ids:
            local = self._jobs.get(job_id)
            if local is not None:
                local.wait(timeout)
