"""The task table a column at a time (`task_lines`) is byte for byte the table written task by task."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lxm3 import xm, xm_cluster
from lxm3.runtime.task_table import TaskValueError, write_task_lines, write_task_table
from lxm3.xm_cluster import task_lines
from lxm3.xm_cluster.array_job import ArrayJob
from lxm3.xm_cluster.executables import Command, Entrypoint
from lxm3.xm_cluster.job_tasks import JobTasks, job_tasks


def _job(args: Any, env_vars: Any = None, *, base_args: Any = None, base_env: Any = None) -> JobTasks:
    executable = Command(
        name="trainer",
        entrypoint=Entrypoint("module", ("train",)),
        args=xm.SequentialArgs.from_collection(base_args or {}),
        env_vars=base_env or {},
    )
    array = ArrayJob(executable, xm_cluster.Local(), args=args, env_vars=env_vars)
    return job_tasks(array)


def _both(tmp_path: Path, job: JobTasks) -> bytes:
    """Writes the table both ways; asserts the same two files; returns the table."""
    general, columns = tmp_path / "general", tmp_path / "columns"
    assert write_task_table(general, job.iter_tasks()) == write_task_lines(
        columns, task_lines.table_lines(job)
    )
    for name in ("tasks.jsonl", "tasks.idx"):
        assert (columns / name).read_bytes() == (general / name).read_bytes(), name
    assert (columns / "tasks.jsonl").stat().st_mode & 0o777 == 0o600
    return (general / "tasks.jsonl").read_bytes()


SWEEPS: dict[str, list[Any]] = {
    "benchmark sweep": [
        {"seed": t, "lr": 10.0 ** -(1 + t % 5), "batch_size": 32 << (t % 4), "sweep": 7} for t in range(3000)
    ],
    "text and escapes": [{"name": f'r\u00e9sum\u00e9 "{t}" \\ \t', "x": "\udcff"} for t in range(40)],
    "bools": [{"flag": t % 3 == 0, "n": t} for t in range(50)],
    "zeros and signs": [{"f": v} for v in (0.0, -0.0, 1.0, -0.0, 0.0, float("inf"), float("nan"))] * 5,
    "ints and floats": [{"v": v} for v in (1, 1.0, 2, 2.0, 1, 1)] * 4,
    "ints, floats and bools": [{"v": v} for v in (1, 1.0, True, 2, 2.0)] * 4,
    "None dropped": [{"a": 1, "b": None if t % 2 else 3} for t in range(20)],
    "lists repeat": [{"c": [t, "x"]} for t in range(10)],
    "names differ": [{"a": 1}, {"b": 2}, {"a": 3, "b": 4}],
    "positionals": [[t, "pos"] for t in range(10)],
    "shell-safe": [{"glob": xm.ShellSafeArg("*.txt")}, {"glob": "plain"}],
    "no args": [{} for _ in range(5)],
    "one task": [{"only": "one"}],
}


#: Sweeps whose every task the columns take (the others fall back to `encode_task`).
BY_COLUMNS = {"benchmark sweep", "text and escapes", "bools", "zeros and signs", "ints and floats"}
BY_COLUMNS |= {"no args", "one task"}


@pytest.mark.parametrize("name", list(SWEEPS))
def test_columns_give_the_same_table_as_tasks_one_by_one(
    tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = _job(SWEEPS[name])
    general = tmp_path / "general"
    write_task_table(general, job.iter_tasks())
    if name in BY_COLUMNS:  # the fast path itself, not its fallback, wrote the table
        monkeypatch.setattr(task_lines, "encode_task", None)
    write_task_lines(tmp_path / "columns", task_lines.table_lines(job))
    for file in ("tasks.jsonl", "tasks.idx"):
        assert (tmp_path / "columns" / file).read_bytes() == (general / file).read_bytes()


def test_env_and_baked_in_args_take_the_general_path_with_the_same_bytes(tmp_path: Path) -> None:
    args = [{"seed": t} for t in range(30)]
    _both(tmp_path / "env", _job(args, [{"RANK": t} for t in range(30)]))
    _both(tmp_path / "base-args", _job(args, base_args={"base": 1}))
    _both(tmp_path / "base-env", _job(args, base_env={"B": "1"}))


def test_a_block_the_columns_cannot_take_falls_back_from_there_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(task_lines, "BLOCK", 16)
    # Block 3 holds a list value: blocks 0-2 by columns, the rest task by task, same bytes.
    args: list[Any] = [{"seed": t, "tag": "a"} for t in range(100)]
    args[40] = {"seed": 40, "tag": ["x", "y"]}
    table = _both(tmp_path, _job(args))
    assert table.count(b"\n") == 100


def test_values_no_program_can_receive_fail_the_same_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(task_lines, "BLOCK", 8)
    nul = [{"seed": t, "tag": "ok" if t != 21 else "bad\0"} for t in range(30)]
    with pytest.raises(TaskValueError, match="task 21: argument") as general:
        write_task_table(tmp_path / "g", _job(nul).iter_tasks())
    with pytest.raises(TaskValueError, match="task 21: argument") as columns:
        write_task_lines(tmp_path / "c", task_lines.table_lines(_job(nul)))
    assert str(columns.value) == str(general.value)
    big = [{"seed": t, "blob": "x" * (200_000 if t == 5 else 10)} for t in range(12)]
    with pytest.raises(TaskValueError, match="task 5: argument 1 is") as too_big:
        write_task_lines(tmp_path / "b", task_lines.table_lines(_job(big)))
    assert "one argument can be at most" in str(too_big.value)


def test_keyword_argv_renders_as_to_list() -> None:
    columns = {
        "ints": (1, 2, 2, 2, 3, -4),
        "floats": (0.5, 0.5, 0.5, 1e-05, 1e300),
        "zeros": (0.0, -0.0, 0.0, -0.0),
        "mixed": (1, 1.0, "1", 1, 1.0),
        "strs": ("a", "a", "a", "b"),
        "bools": (True, False, True, True),
    }
    for name, values in columns.items():
        expected = [xm.SequentialArgs.from_collection({name: value}).to_list()[0] for value in values]
        assert xm.args.keyword_argv(name, values) == expected, name
    assert xm.args.keyword_argv("n", (1, None)) is None
    assert xm.args.keyword_argv("b", (True, 1)) is None


class _Name(str):
    """A str subclass as a dict key: `from_collection` turns it into a plain str."""


def test_from_collections_is_from_collection_of_each() -> None:
    shared = {"a": 1, "b": [2, 3]}
    values: list[Any] = [
        {"seed": 1, "lr": 0.1},
        {"seed": 2, "lr": 0.2},
        {_Name("seed"): 3, "lr": 0.3},
        {1: "x"},
        ["pos", 1],
        None,
        xm.SequentialArgs.from_collection({"kept": True}),
        dict(shared),
        {},
        {},
    ]
    converted = xm.SequentialArgs.from_collections(values)
    assert converted == [
        value if isinstance(value, xm.SequentialArgs) else xm.SequentialArgs.from_collection(value)
        for value in values
    ]
    assert converted[6] is values[6]
    assert [type(name) for name in converted[2].to_dict()] == [str, str]
    values[0]["seed"] = 99  # the args own copies of the dicts
    assert converted[0].to_list() == ["--seed=1", "--lr=0.1"]
    with pytest.raises(ValueError, match="from a string"):
        xm.SequentialArgs.from_collections([{"a": 1}, "oops"])
