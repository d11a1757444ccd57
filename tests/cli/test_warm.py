"""The warm `lxm3` process (lxm3/cli/warm): a served command behaves as a fresh process would.

Each test runs `lxm3` as a new process, twice or more: the first leaves a warm
server behind, the next ones are served by a child forked from it. What the
command sees (argv byte for byte, environment, working directory, umask,
stdin), what it prints and where, its exit status and its reaction to Ctrl-C
must be the same as in the fresh process; an SSH login it needs must run in
the `lxm3` process the user started (where the terminal is).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import lxm3_argv
from tests.e2e.conftest import SlurmCluster
from tests.hostile import HOSTILE_VALUES, hostile_env

PLUMBING = """\
import json, logging, os, sys, time
from absl import app, flags

flags.DEFINE_multi_string("word", [], "values to echo")
flags.DEFINE_string("out", None, "where to write what this process saw")
flags.DEFINE_integer("exit", 0, "exit status")
flags.DEFINE_float("sleep", 0, "sleep this long after printing ready")
FLAGS = flags.FLAGS


def main(argv):
    umask = os.umask(0)
    os.umask(umask)
    record = {
        "argv": sys.argv,
        "words": FLAGS.word,
        "cwd": os.getcwd(),
        "umask": umask,
        "env": {k: v for k, v in os.environ.items() if k.startswith("HOSTILE_")},
        "stdin": sys.stdin.read() if not FLAGS.sleep else "",
        "pid": os.getpid(),
    }
    with open(FLAGS.out, "w") as handle:
        json.dump(record, handle)
    print("to stdout: ünïcödé", flush=True)
    print("to stderr", file=sys.stderr, flush=True)
    logging.warning("through the logging module")
    if FLAGS.sleep:
        print("ready", flush=True)
        time.sleep(FLAGS.sleep)
    sys.exit(FLAGS.exit)


if __name__ == "__main__":
    app.run(main)
"""


@pytest.fixture
def warm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Warm servers on, in a runtime dir of this test's own; every server stopped at the end."""
    # (short: a unix socket's path must fit in ~100 bytes, which pytest's tmp_path may not)
    runtime = Path(tempfile.mkdtemp(prefix="lxm3-rt-", dir="/tmp"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    monkeypatch.delenv("LXM3_KEEP_WARM", raising=False)
    monkeypatch.chdir(tmp_path)
    yield runtime / "lxm3-warm"
    for lock in (runtime / "lxm3-warm").glob("*.lock"):
        pid = lock.read_text().strip()
        if pid:
            try:
                os.kill(int(pid), signal.SIGTERM)
            except ProcessLookupError:
                pass
    shutil.rmtree(runtime, ignore_errors=True)


def wait_for_server(directory: Path, timeout: float = 30) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sockets = list(directory.glob("*.sock"))
        if sockets:
            return sockets[0]
        time.sleep(0.05)
    raise AssertionError(f"no warm server appeared in {directory}")


def lxm3(*args: str, usage: Path | None = None, **kwargs: object) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if usage is not None:
        env["LXM3_WARM_USAGE"] = str(usage)  # written only by a served command
    return subprocess.run(lxm3_argv(*args), capture_output=True, text=True, env=env, timeout=120, **kwargs)  # type: ignore[call-overload]


@pytest.fixture
def plumbing(tmp_path: Path) -> Path:
    launcher = tmp_path / "plumbing.py"
    launcher.write_text(PLUMBING)
    return launcher


absl_prefix = re.compile(r"^[IWEF]\d{4} [\d:.]+ +\d+ ", re.MULTILINE)


def test_a_served_command_sees_and_does_exactly_what_a_fresh_one_does(
    warm: Path, plumbing: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in hostile_env().items():
        monkeypatch.setenv(name, value)
    words = [f"--word={value}" for value in HOSTILE_VALUES if "\0" not in value]
    old = os.umask(0o027)
    results, records = [], []
    try:
        for run in range(2):
            out, usage = tmp_path / "record.json", tmp_path / f"usage-{run}"
            if run == 1:
                wait_for_server(warm)
            result = lxm3(
                "launch", str(plumbing), f"--out={out}", "--exit=3", *words, usage=usage, input="from stdin\n"
            )
            assert usage.exists() == (run == 1), "the first command runs in-process, the second is served"
            results.append(result)
            records.append(json.loads(out.read_text()))
    finally:
        os.umask(old)
    fresh, served = records
    assert served["pid"] != fresh["pid"]
    assert {k: v for k, v in served.items() if k != "pid"} == {k: v for k, v in fresh.items() if k != "pid"}
    assert served["words"] == [value for value in HOSTILE_VALUES if "\0" not in value]
    assert served["env"] == hostile_env()
    assert served["umask"] == 0o027 and served["stdin"] == "from stdin\n"
    assert served["cwd"] == str(tmp_path)
    assert [r.returncode for r in results] == [3, 3]
    assert results[1].stdout == results[0].stdout == "to stdout: ünïcödé\n"
    # (absl's log prefix holds the time and the thread id)
    assert absl_prefix.sub("", results[1].stderr) == absl_prefix.sub("", results[0].stderr)
    assert "to stderr" in results[1].stderr and "through the logging module" in results[1].stderr


@pytest.mark.parametrize("signum, name", [(signal.SIGINT, "ctrl-c"), (signal.SIGTERM, "kill")])
def test_a_signal_to_lxm3_reaches_the_served_command(
    warm: Path, plumbing: Path, tmp_path: Path, signum: int, name: str
) -> None:
    outcomes = []
    for run in range(2):
        if run == 1:
            wait_for_server(warm)
        usage = tmp_path / f"usage-{run}"
        env = dict(os.environ, LXM3_WARM_USAGE=str(usage))
        argv = lxm3_argv("launch", str(plumbing), f"--out={tmp_path / 'r.json'}", "--sleep=60")
        with subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        ) as process:
            assert process.stdout is not None
            for line in process.stdout:
                if line.strip() == "ready":
                    break
            started = time.monotonic()
            process.send_signal(signum)
            _out, err = process.communicate(timeout=30)
            outcomes.append((process.returncode, err.strip().splitlines()[-1]))
            assert time.monotonic() - started < 20
        assert usage.exists() == (run == 1)
    assert outcomes[1] == outcomes[0], f"{name}: fresh {outcomes[0]} vs served {outcomes[1]}"
    assert outcomes[0][0] != 0


def test_keep_warm_0_starts_no_server_and_retires_a_running_one(warm: Path, tmp_path: Path) -> None:
    off = tmp_path / "off.toml"
    off.write_text('project = "t"\nkeep_warm = 0\n')
    on = tmp_path / "on.toml"
    on.write_text('project = "t"\n')

    def list_with(config: Path, **env: str) -> subprocess.CompletedProcess[bytes]:
        usage = tmp_path / "usage"
        usage.unlink(missing_ok=True)
        environ = dict(os.environ, LXM_CONFIG=str(config), LXM3_WARM_USAGE=str(usage), **env)
        result = subprocess.run(lxm3_argv("list"), env=environ, capture_output=True, timeout=120)
        assert result.returncode == 0, result.stderr
        return result

    list_with(off)
    list_with(on, LXM3_KEEP_WARM="0")
    time.sleep(1.0)
    assert not list(warm.glob("*.sock")) and not list(warm.glob("*.starting"))
    list_with(on)
    socket_path = wait_for_server(warm)
    pid = int(Path(f"{socket_path}.lock").read_text())
    list_with(off)
    assert (tmp_path / "usage").exists(), "a running server still serves the command that turns it off"
    assert not socket_path.exists()
    wait_gone(pid)


def test_an_idle_server_leaves_after_keep_warm(warm: Path, tmp_path: Path) -> None:
    config = tmp_path / "lxm.toml"
    config.write_text('project = "t"\nkeep_warm = "2s"\n')
    env = dict(os.environ, LXM_CONFIG=str(config))
    assert subprocess.run(lxm3_argv("list"), env=env, capture_output=True, timeout=120).returncode == 0
    socket_path = wait_for_server(warm)
    pid = int(Path(f"{socket_path}.lock").read_text())
    served = subprocess.run(
        lxm3_argv("list"),
        env=dict(env, LXM3_WARM_USAGE=str(tmp_path / "u")),
        capture_output=True,
        timeout=120,
    )
    assert served.returncode == 0 and (tmp_path / "u").exists()
    wait_gone(pid)
    assert not socket_path.exists()


def wait_gone(pid: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and alive(pid):
        time.sleep(0.1)
    assert not alive(pid), "the server is still running"


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


SSH_WRAPPER = """\
#!/bin/sh
case " $* " in *" -N -f "*) echo "$PPID" >> "$SSH_MASTER_LOG" ;; esac
exec /usr/bin/ssh "$@"
"""


@pytest.mark.slurm
@pytest.mark.ssh
def test_an_ssh_login_for_a_served_launch_runs_where_the_terminal_is(
    warm: Path,
    slurm_cluster: SlurmCluster,
    flaky_project: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The served child has no terminal; the `lxm3` process the user started opens the master."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "ssh").write_text(SSH_WRAPPER)
    (bin_dir / "ssh").chmod(0o755)
    log = tmp_path / "masters.log"
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("SSH_MASTER_LOG", str(log))
    control = tmp_path / "control"
    control.mkdir()
    argv = lxm3_argv(
        "launch", str(flaky_project / "launch.py"), "--executor=slurm", "--tasks=1", f"--control={control}"
    )
    cold = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert cold.returncode == 0, cold.stderr
    wait_for_server(warm)
    [first_master] = log.read_text().split()
    # The persistent master is stopped, so the served launch must log in again.
    [master_socket] = [p for p in (warm.parent / "lxm3-ssh").glob("cm-*") if p.suffix != ".lock"]
    subprocess.run(
        ["/usr/bin/ssh", "-o", f"ControlPath={master_socket}", "-O", "exit", "x"], capture_output=True
    )
    usage = tmp_path / "usage"
    with subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, LXM3_WARM_USAGE=str(usage)),
    ) as served:
        _out, err = served.communicate(timeout=300)
    assert served.returncode == 0, err
    assert usage.exists(), "the second launch was not served"
    masters = log.read_text().split()
    assert len(masters) == 2 and masters[0] == first_master
    assert int(masters[1]) == served.pid, "the served launch's SSH login ran outside the lxm3 process"


def test_only_processes_that_would_import_the_same_code_share_a_server(tmp_path: Path) -> None:
    """The socket's name changes with what shapes imports, and with nothing else."""
    from lxm3.cli.warm import stamp

    base = {"HOME": "/home/a", "PATH": "/usr/bin", "LANG": "C.UTF-8", "HOSTILE_00": "x"}
    reference = stamp.compute(base)
    assert stamp.compute(dict(base)) == reference
    assert stamp.compute({**base, "HOME": "/home/b", "HOSTILE_00": "y", "LXM_CONFIG": "/x"}) == reference
    for changed in ({"PYTHONPATH": str(tmp_path)}, {"LANG": "de_DE.UTF-8"}, {"LC_ALL": "C"}, {"TZ": "UTC"}):
        assert stamp.compute({**base, **changed}) != reference, changed
