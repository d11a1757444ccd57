"""LocalTransport: argv commands without a shell, atomic file copies."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from lxm3.transport.base import TransportError
from lxm3.transport.local import LocalTransport
from tests.hostile import HOSTILE_VALUES

HOSTILE = HOSTILE_VALUES
ECHO_ARGV = [sys.executable, "-c", "import json, sys; print(json.dumps(sys.argv[1:]))"]


def test_run_passes_argv_without_a_shell() -> None:
    result = LocalTransport().run([*ECHO_ARGV, *HOSTILE])
    assert json.loads(result.stdout) == HOSTILE
    assert result.returncode == 0 and result.argv == (*ECHO_ARGV, *HOSTILE)


def test_run_feeds_stdin_and_captures_both_streams() -> None:
    script = "import sys; data = sys.stdin.read(); print(data.upper()); print('warn', file=sys.stderr)"
    result = LocalTransport().run([sys.executable, "-c", script], input="héllo")
    assert result.stdout == "HÉLLO\n" and result.stderr == "warn\n"


def test_failure_raises_with_the_commands_last_error_line() -> None:
    script = (
        "import sys; sys.stderr.write('an earlier line\\nsbatch: error: invalid partition\\n'); sys.exit(4)"
    )
    with pytest.raises(TransportError, match="invalid partition") as error:
        LocalTransport().run([sys.executable, "-c", script])
    assert "an earlier line" not in str(error.value)  # (not a word the interpreter's path may hold)


def test_failure_without_check_returns_the_result() -> None:
    result = LocalTransport().run([sys.executable, "-c", "raise SystemExit(3)"], check=False)
    assert result.returncode == 3


def test_missing_command_is_127_or_an_error() -> None:
    result = LocalTransport().run(["lxm3-no-such-command"], check=False)
    assert result.returncode == 127 and "command not found" in result.stderr
    with pytest.raises(TransportError, match="lxm3-no-such-command"):
        LocalTransport().run(["lxm3-no-such-command"])


def test_timeout_is_a_transport_error() -> None:
    with pytest.raises(TransportError, match="timed out"):
        LocalTransport().run(["sleep", "5"], timeout=0.3)


def test_run_script_uses_bash() -> None:
    assert LocalTransport().run_script('a=(x y z); printf "%s" "${#a[@]}"').stdout == "3"


def make_tree(root: Path) -> Path:
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "top.txt").write_text("top")
    (root / "sub" / "deeper" / "leaf.bin").write_bytes(bytes(range(256)))
    (root / "sub" / "run.sh").write_text("#!/bin/sh\n")
    (root / "sub" / "run.sh").chmod(0o755)
    return root


def test_upload_copies_everything_atomically_and_keeps_modes(tmp_path: Path) -> None:
    source = make_tree(tmp_path / "src")
    destination = tmp_path / "dst"
    sent = LocalTransport().upload(source, str(destination))
    assert sent == 0, "nothing goes over a wire locally"
    assert (destination / "top.txt").read_text() == "top"
    assert (destination / "sub" / "deeper" / "leaf.bin").read_bytes() == bytes(range(256))
    assert os.access(destination / "sub" / "run.sh", os.X_OK)
    assert not [p for p in destination.rglob("*") if p.name.startswith(".lxm3-")], "no temporary files left"


def test_upload_of_selected_files_only(tmp_path: Path) -> None:
    source = make_tree(tmp_path / "src")
    destination = tmp_path / "dst"
    LocalTransport().upload(source, str(destination), files=["sub/deeper/leaf.bin"])
    assert sorted(str(p.relative_to(destination)) for p in destination.rglob("*") if p.is_file()) == [
        "sub/deeper/leaf.bin"
    ]


def test_upload_replaces_by_rename_so_readers_never_see_a_partial_file(tmp_path: Path) -> None:
    source = make_tree(tmp_path / "src")
    destination = tmp_path / "dst"
    LocalTransport().upload(source, str(destination))
    with open(destination / "top.txt") as reader:  # e.g. a task reading the old version
        (source / "top.txt").write_text("new version")
        LocalTransport().upload(source, str(destination), files=["top.txt"])
        assert reader.read() == "top", "the old file was not rewritten in place"
    assert (destination / "top.txt").read_text() == "new version"


def test_upload_onto_itself_is_a_no_op(tmp_path: Path) -> None:
    source = make_tree(tmp_path / "src")
    assert LocalTransport().upload(source, str(source)) == 0
    assert (source / "top.txt").read_text() == "top"


def test_upload_expands_user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    source = make_tree(tmp_path / "src")
    LocalTransport().upload(source, "~/staging", files=["top.txt"])
    assert (tmp_path / "home" / "staging" / "top.txt").read_text() == "top"


def test_expand_user_and_download(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    transport = LocalTransport()
    assert transport.expand_user("~/x/y") == f"{tmp_path}/x/y"
    assert transport.expand_user("/abs/~x") == "/abs/~x"
    (tmp_path / "remote.log").write_bytes(b"line\xff\n")
    transport.download("~/remote.log", tmp_path / "local.log")
    assert (tmp_path / "local.log").read_bytes() == b"line\xff\n"
    assert transport.bytes_sent == 0 and transport.label == "localhost"
    with transport as entered:
        assert entered is transport
