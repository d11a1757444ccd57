"""File reads that ride on the status query's command (`file_reads`, `StatusWatcher.refresh_reading`).

The command runs for real (bash on this machine through LocalTransport, which
is what SSH runs on the cluster): its own stdout, stderr, exit code and stdin
must be exactly what it gives alone, and each file comes back byte-exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from lxm3.schedulers.base import ArrayChunk, SubmittedJob
from lxm3.schedulers.file_reads import RidingReads
from lxm3.schedulers.watcher import StatusWatcher
from lxm3.transport.base import CommandResult, Transport, TransportError
from lxm3.transport.local import LocalTransport
from lxm3.xm.status import TaskState, TaskStatus
from tests.hostile import HOSTILE_VALUES


class CountingTransport(LocalTransport):
    """This machine, counting the commands (round trips) and keeping their argv."""

    def __init__(self) -> None:
        super().__init__()
        self.argvs: list[list[str]] = []

    def run(
        self,
        argv: Sequence[str],
        *,
        input: str | None = None,
        check: bool = True,
        timeout: float | None = None,
    ) -> CommandResult:
        self.argvs.append(list(argv))
        return super().run(argv, input=input, check=check, timeout=timeout)


def _files(tmp_path: Path) -> dict[str, str]:
    texts = {
        "journal.jsonl": '{"event": "start"}\n{"event": "end"}\n',
        "no-newline": "last line without one",
        "empty": "",
        "blank-lines": "\n\n\n",
        "looks-like-a-marker": "@@lxm3-0000 0 1\n@@lxm3-0000 end\n",
        **{f"hostile-{i}": value for i, value in enumerate(HOSTILE_VALUES) if "\0" not in value},
    }
    paths = {}
    for name, text in texts.items():
        path = tmp_path / name
        path.write_bytes(text.encode("utf-8", "surrogateescape"))
        paths[str(path)] = text
    return paths


def test_reads_ride_on_the_first_command_which_behaves_as_if_alone(tmp_path: Path) -> None:
    files = _files(tmp_path)
    missing = str(tmp_path / "no such file")
    directory = str(tmp_path)  # a directory is not a file to read
    inner = CountingTransport()
    reads = RidingReads(inner, [*files, missing, directory])
    script = 'read -r line; printf "%s|out\\n" "$line"; printf "err\\n" >&2; exit 3'
    result = reads.run(["bash", "-c", script], input="from stdin\n", check=False)
    assert (result.returncode, result.stdout, result.stderr) == (3, "from stdin|out\n", "err\n")
    assert result.argv == ("bash", "-c", script)
    assert len(inner.argvs) == 1
    # Each file as `cat` alone brings it over the same transport (same decoding).
    alone = {path: LocalTransport().run(["cat", path]).stdout for path in files}
    assert reads.contents == {**alone, missing: None, directory: None}
    assert alone[next(p for p in files if p.endswith("no-newline"))] == "last line without one"
    # Later commands pass through untouched.
    assert reads.run(["printf", "%s", "x"]).stdout == "x"
    assert inner.argvs[-1] == ["printf", "%s", "x"]


def test_a_failing_command_still_delivers_the_files_and_raises_its_own_error(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    path.write_text("line\n")
    reads = RidingReads(LocalTransport(), [str(path)])
    with pytest.raises(TransportError, match=r"^sh on localhost failed: sacct: error: down$"):
        reads.run(["sh", "-c", "echo 'sacct: error: down' >&2; exit 1", "sacct"])
    assert reads.contents == {str(path): "line\n"}


def test_read_alone_takes_one_command_when_none_was_run(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    path.write_text("x")
    inner = CountingTransport()
    reads = RidingReads(inner, [str(path), str(tmp_path / "gone")])
    assert reads.read_alone() == {str(path): "x", str(tmp_path / "gone"): None}
    assert reads.read_alone() == {str(path): "x", str(tmp_path / "gone"): None}
    assert len(inner.argvs) == 1


class ShellScheduler:
    """A scheduler whose query is one shell command (as sacct's is), answering COMPLETED."""

    name = "shell"
    first_poll_interval = 0.1
    knows_exit_codes_first = True

    def query_tasks(
        self, transport: Transport, jobs: Sequence[SubmittedJob], *, exit_codes: bool = True
    ) -> dict[str, dict[int, TaskStatus]]:
        ids = " ".join(job.job_id for job in jobs)
        printed = transport.run(
            ["sh", "-c", 'for j in "$@"; do echo "$j"; done', "query", *ids.split()]
        ).stdout
        return {job_id: {0: TaskStatus(0, TaskState.RUNNING, job_id=job_id)} for job_id in printed.split()}


def test_watcher_reads_the_files_in_its_query_command_and_that_query_covers_its_jobs(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    path.write_text('{"event": "start"}\n')
    transport = CountingTransport()
    watcher = StatusWatcher(ShellScheduler(), lambda: transport)  # type: ignore[arg-type]
    jobs = [SubmittedJob(str(n), ArrayChunk(0, 1), f"/s/job-{n}.sh") for n in (11, 12)]
    watcher.watch(jobs)
    assert watcher.refresh_reading([str(path)]) == {str(path): '{"event": "start"}\n'}
    assert len(transport.argvs) == 1 and watcher.queries == 1
    assert {s.state for s in watcher.statuses(jobs).values()} == {TaskState.RUNNING}
    # A read right after reuses that query for the jobs it asked about...
    watcher.refresh_covering(jobs, max_age=60)
    assert len(transport.argvs) == 1
    # ...but not for a job it never asked about.
    new = SubmittedJob("13", ArrayChunk(0, 1), "/s/job-13.sh")
    watcher.watch([new])
    watcher.refresh_covering([*jobs, new], max_age=60)
    assert len(transport.argvs) == 2 and watcher.queries == 2
    # Nothing to ask the scheduler: the files take one command of their own.
    idle = StatusWatcher(ShellScheduler(), lambda: transport)  # type: ignore[arg-type]
    assert idle.refresh_reading([str(path)]) == {str(path): '{"event": "start"}\n'}
    assert len(transport.argvs) == 3 and idle.queries == 0
