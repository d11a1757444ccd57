"""SIGINT/SIGTERM at several moments of a 300-unit Slurm launch with a 24 MB artifact.

Whatever the moment, every job the scheduler holds is recorded in the store
(or, after a second signal, its submission is recorded as cut short), the
process exits 130 with one line saying what was submitted, and asyncio says
nothing about destroyed tasks.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from .conftest import LAUNCHER, cancel_under, lxm3_command, queued_jobs, recorded, run_env

pytestmark = [pytest.mark.slurm, pytest.mark.ssh]


def launch_and_signal(
    tmp_path: Path, config: Path, package: Path, wait_for: str | None, delay: float, signals: list[int]
) -> tuple[int, str, Path]:
    launcher = tmp_path / "launcher.py"
    launcher.write_text(LAUNCHER)
    store = tmp_path / "store.sqlite3"
    env = run_env(config, store, FAULT_PKG=str(package), FAULT_UNITS="300", LXM3_PRECONNECT="0")
    process = subprocess.Popen(
        [*lxm3_command(), "launch", str(launcher)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    lines: list[str] = []
    start = time.monotonic()
    if wait_for is not None:
        for line in process.stdout:
            lines.append(line)
            if wait_for in line or time.monotonic() - start > 240:
                break
    time.sleep(delay)
    for number, signum in enumerate(signals):
        if number:
            time.sleep(0.3)
        process.send_signal(signum)
    rest, _ = process.communicate(timeout=300)
    return process.returncode, "".join(lines) + rest, store


#: (moment, what to wait for in the output, extra delay, signals)
MOMENTS = [
    ("while packaging", None, 1.0, [signal.SIGINT]),
    ("while uploading the artifact", None, 0.0, [signal.SIGTERM]),
    ("after the first submissions", "submitted 1 task", 0.0, [signal.SIGINT]),
    ("mid-sweep", "submitted 1 task", 2.0, [signal.SIGTERM]),
    ("twice mid-sweep", "submitted 1 task", 0.5, [signal.SIGINT, signal.SIGINT]),
]


@pytest.mark.parametrize(("moment", "wait_for", "delay", "signals"), MOMENTS, ids=[m[0] for m in MOMENTS])
def test_an_interrupt_loses_nothing(
    slurm_cluster: Any,
    large_package: Path,
    tmp_path: Path,
    moment: str,
    wait_for: str | None,
    delay: float,
    signals: list[int],
) -> None:
    if moment == "while uploading the artifact":
        # The upload starts once the package is built: wait for the store to exist, then a bit.
        delay = 0.0
    try:
        code, output, store = launch_and_signal(
            tmp_path, slurm_cluster.config_path, large_package, wait_for, delay if wait_for else 6.0, signals
        )
        time.sleep(2)  # a job submitted just before the exit is visible in squeue
        queued = queued_jobs(slurm_cluster.staging)
        ids, rows = recorded(store)
        cut_short = [row for row in rows if row["final"] and not row["submitted"].strip("[]")]
        assert code == 130, output
        final_line = output.strip().splitlines()[-1]
        assert final_line.startswith("lxm3: interrupted; "), output
        assert "Task was destroyed" not in output and "Traceback" not in output, output
        # Nothing lost: every job the scheduler holds is recorded, except those of a submission
        # cut short by a second signal, which is recorded as FAILED "may be running".
        unrecorded = queued - ids
        if len(signals) == 1:
            assert not unrecorded, (moment, sorted(unrecorded), output)
            assert not cut_short
        else:
            assert len(unrecorded) <= sum(1 for _ in cut_short), (moment, sorted(unrecorded), output)
        # Nothing invented: every recorded job was really submitted.
        assert ids <= queued, (sorted(ids - queued), output)
        if ids:
            assert "cancel with `lxm3 cancel" in final_line
        else:
            assert "nothing was submitted" in final_line
    finally:
        cancel_under(slurm_cluster.staging)
