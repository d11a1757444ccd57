"""The pieces behind `lxm3 metrics` and `lxm3 fetch` that need no cluster: reading metrics files,
args read back, rsync's filter rules, the layout, the terminal plot."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

from lxm3.cli.plotting import terminal_plot
from lxm3.runtime import metrics_reader
from lxm3.xm_cluster.fetching import _view_path, filter_rules
from lxm3.xm_cluster.results import JobOutputs, args_dict


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_last_values_skip_what_is_not_a_number_or_not_an_object(tmp_path: Path) -> None:
    job = tmp_path / "job"
    write(
        job / "outputs" / "0" / "metrics.jsonl",
        '{"loss": 1, "step": 0}\nnot json\n[1]\n{"loss": "x", "ok": true, "acc": NaN}\n'
        '{"loss": 0.5, "step": 7}\n{"loss": 0.1',
    )
    (job / "outputs" / "1").mkdir()  # started, reported nothing
    write(job / "outputs" / "notes" / "metrics.jsonl", '{"loss": 9}\n')  # not a task
    document = metrics_reader.read_jobs([str(job), str(tmp_path / "missing")], series_of="loss")
    assert document["jobs"][0]["tasks"] == {
        "0": {"last": {"loss": 0.5, "step": 7, "acc": None}, "series": [[0, 1], [7, 0.5]]},
        "1": {"last": {}, "series": []},
    }
    assert document["jobs"][1] == {"tasks": {}, "args": None}


def test_the_reader_runs_as_a_script_on_python3(tmp_path: Path) -> None:
    job = tmp_path / "job"
    write(job / "outputs" / "3" / "metrics.jsonl", '{"loss": 0.25}\n{"loss": 0.125}\n')
    write(job / "tasks.jsonl", '{"args": ["--lr=0.1", {"sh": "$X"}], "env": {}}\n')
    source = Path(metrics_reader.__file__).read_text()
    out = subprocess.run(
        [sys.executable, "-c", source, "--series", "loss", "--args", "0", "--", str(job)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert json.loads(out) == {
        "jobs": [
            {
                "tasks": {"3": {"last": {"loss": 0.125}, "series": [[0, 0.25], [1, 0.125]]}},
                "args": [["--lr=0.1", {"sh": "$X"}]],
            }
        ]
    }


def test_args_read_back_as_a_dict() -> None:
    assert args_dict(["--lr=1e-3", "--seed=3", "--name=a b", "--flag", "pos", {"sh": "$HOME"}]) == {
        "lr": 0.001,
        "seed": 3,
        "name": "a b",
        "flag": True,
        "4": "pos",
        "5": "$HOME",
    }


def job(unit: int, name: str) -> JobOutputs:
    return JobOutputs(unit, name, 2, f"/s/experiments/7/{unit}/{name}", None, None)  # type: ignore[arg-type]


def test_filter_rules_let_through_only_the_chosen_outputs() -> None:
    assert filter_rules([job(1, "train")], None, []) == [
        "+ /1/",
        "+ /1/train/",
        "+ /1/train/outputs/",
        "+ /1/train/outputs/*/",
        "+ /1/train/outputs/*/**",
        "- *",
    ]
    assert filter_rules([job(2, "a")], [3], ["eval/*.json"]) == [
        "+ /2/",
        "+ /2/a/",
        "+ /2/a/outputs/",
        "+ /2/a/outputs/3/",
        "+ /2/a/outputs/3/metrics.jsonl",
        "+ /2/a/outputs/3/**/",
        "+ /2/a/outputs/3/eval/*.json",
        "- *",
    ]


def test_layout_is_by_job_only_for_units_with_several_jobs() -> None:
    dest = Path("/d")
    assert _view_path(dest, "1/train/outputs/0/eval/a.json", set()) == Path("/d/1/0/eval/a.json")
    assert _view_path(dest, "2/actor/outputs/5/m.ckpt", {2}) == Path("/d/2/actor/5/m.ckpt")
    assert _view_path(dest, "1/train/logs/0.out", set()) is None


def test_terminal_plot_draws_every_task_with_its_own_mark() -> None:
    text = terminal_plot(
        "loss",
        [("wu 1 task 0", [(0, 1.0), (1, 0.5)]), ("wu 1 task 1", [(0, 2.0), (1, math.pi)])],
        width=20,
        height=5,
    )
    lines = text.splitlines()
    assert lines[0] == "loss against step"
    assert "3.142 |" in lines[1] and "1" in lines[1]
    assert lines[5] == "  0.5 |" + " " * 19 + "0"  # the lowest value, at the last step
    assert lines[-2:] == ["  0  wu 1 task 0", "  1  wu 1 task 1"]
