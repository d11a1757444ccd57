"""The task table: per-task args/env written once, each task read by one seek."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lxm3 import xm
from lxm3.runtime import task_runner
from lxm3.runtime.task_table import INDEX_NAME, TABLE_NAME, TaskValueError, encode_task, write_task_table


def read(directory: Path, task_id: int) -> dict[str, object]:
    return task_runner.read_task(directory / TABLE_NAME, directory / INDEX_NAME, task_id)


def test_round_trip_of_every_task(tmp_path: Path) -> None:
    tasks = [([f"--seed={i}", "pos", xm.ShellSafeArg("$LXM_TASK_ID")], {"TASK": f"t{i}"}) for i in range(50)]
    assert write_task_table(tmp_path, tasks) == 50
    for i in (0, 1, 17, 49):
        assert read(tmp_path, i) == {
            "args": [f"--seed={i}", "pos", {"sh": "$LXM_TASK_ID"}],
            "env": {"TASK": f"t{i}"},
        }


def test_index_holds_one_8_byte_offset_per_task(tmp_path: Path) -> None:
    write_task_table(tmp_path, [(["a" * i], {}) for i in range(10)])
    index = (tmp_path / INDEX_NAME).read_bytes()
    assert len(index) == 8 * 10
    offsets = [int.from_bytes(index[k : k + 8], "little") for k in range(0, len(index), 8)]
    table = (tmp_path / TABLE_NAME).read_bytes()
    assert offsets == [0, *[i + 1 for i, byte in enumerate(table) if byte == ord("\n")][:-1]]


def test_lookup_reads_only_its_own_line(tmp_path: Path) -> None:
    """O(1): the reader seeks to the task's line; every other line could be garbage."""
    write_task_table(tmp_path, [([f"arg{i}"], {"I": str(i)}) for i in range(1000)])
    table = tmp_path / TABLE_NAME
    lines = table.read_bytes().splitlines(keepends=True)
    target = 637
    table.write_bytes(
        b"".join(line if n == target else b"\xff" * (len(line) - 1) + b"\n" for n, line in enumerate(lines))
    )
    assert read(tmp_path, target) == {"args": [f"arg{target}"], "env": {"I": str(target)}}
    with pytest.raises(ValueError):
        read(tmp_path, target + 1)  # the garbage is really there


def test_task_out_of_range_is_an_index_error(tmp_path: Path) -> None:
    write_task_table(tmp_path, [([], {})] * 3)
    with pytest.raises(IndexError, match="task 3"):
        read(tmp_path, 3)


def test_args_are_stringified_but_shell_safe_args_marked(tmp_path: Path) -> None:
    line = encode_task([1, 2.5, "x", xm.ShellSafeArg("*.txt")], {"N": 3}, 0)  # type: ignore[dict-item]
    assert json.loads(line) == {"args": ["1", "2.5", "x", {"sh": "*.txt"}], "env": {"N": "3"}}
    assert line.endswith(b"\n") and line.count(b"\n") == 1


@pytest.mark.parametrize(
    ("args", "env", "match"),
    [
        (["ok", "bad\0arg"], {}, "task 7: argument contains a NUL byte"),
        ([xm.ShellSafeArg("a\0b")], {}, "task 7: shell arg contains a NUL byte"),
        ([], {"KEY": "v\0"}, "task 7: env KEY contains a NUL byte"),
        ([], {"A=B": "v"}, "invalid environment variable name 'A=B'"),
        ([], {"": "v"}, "invalid environment variable name ''"),
        ([], {"K\0": "v"}, "invalid environment variable name"),
    ],
)
def test_values_no_program_could_receive_are_rejected(
    args: list[object], env: dict[str, str], match: str
) -> None:
    with pytest.raises(TaskValueError, match=match):
        encode_task(args, env, 7)


def test_a_bad_task_names_its_index(tmp_path: Path) -> None:
    with pytest.raises(TaskValueError, match="task 2:"):
        write_task_table(tmp_path, [(["a"], {}), (["b"], {}), (["c\0"], {})])


text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"))


@settings(max_examples=60, deadline=None)
@given(
    tasks=st.lists(
        st.tuples(
            st.lists(text, max_size=5),
            st.dictionaries(st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True), text, max_size=3),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_any_text_round_trips_exactly(
    tmp_path_factory: pytest.TempPathFactory, tasks: list[tuple[list[str], dict[str, str]]]
) -> None:
    directory = tmp_path_factory.mktemp("table")
    write_task_table(directory, tasks)
    for task_id, (args, env) in enumerate(tasks):
        assert read(directory, task_id) == {"args": args, "env": env}


@settings(max_examples=80, deadline=None)
@given(
    args=st.lists(st.text(st.characters(blacklist_characters="\0")), max_size=6),
    env=st.dictionaries(st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True), text, max_size=3),
)
def test_a_plain_task_line_is_the_json_encoders_bytes(args: list[str], env: dict[str, str]) -> None:
    # Plain-string tasks take a fast path that builds the line itself; it must be byte-identical
    # to the encoder's (lone surrogates included: the strategy's characters allow them).
    expected = (json.dumps({"args": args, "env": env}, separators=(",", ":")) + "\n").encode()
    assert encode_task(args, env, 0) == expected
    assert encode_task(args, env, 0) == encode_task([*args, xm.ShellSafeArg("x")], env, 0).replace(
        b',{"sh":"x"}]', b"]"
    ).replace(b'[{"sh":"x"}]', b"[]")


@pytest.mark.parametrize(
    ("args", "env", "match"),
    [
        # 40,000 four-byte characters: 160,000 bytes, over one argument's limit though short in len().
        (["\U0001f600" * 40_000], {}, "argument 0 is 160000 bytes"),
        (["ok", "x" * (128 * 1024)], {}, "argument 1 is 131072 bytes"),
        ([], {"BIG": "é" * 70_000}, "env BIG is 140005 bytes"),
        (["y" * 100_000] * 40, {}, "its arguments and environment take"),
    ],
)
def test_oversized_tasks_are_refused_on_every_path(args: list[str], env: dict[str, str], match: str) -> None:
    with pytest.raises(TaskValueError, match=match):
        encode_task(args, env, 3)
