"""The runner's results side: the output dir, the metrics file, after-files, `lxm3.report`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lxm3 import reporting
from tests.runtime.test_task_runner import Job

WRITER = """\
import json, os, sys
out = os.environ["LXM_OUTPUT_DIR"]
assert os.path.isdir(out), out
print(json.dumps({"out": out, "metrics": os.environ["LXM_METRICS_FILE"]}))
sys.stdout.flush()
os.makedirs("eval/deep")
for name in ("model.ckpt", "other.txt", "eval/a.json", "eval/deep/b.json", "eval/c.txt"):
    open(name, "w").write(name)
sys.path.insert(0, os.environ["LXM3_SOURCE"])
import lxm3
for step in range(3):
    lxm3.report(step=step, loss=1.0 / (step + 1))
sys.exit(int(os.environ.get("PROBE_EXIT", "0")))
"""


def writer_job(tmp_path: Path, after_files: list[str], code: str = "0") -> Job:
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    source = str(Path(reporting.__file__).parent.parent)
    return Job(
        tmp_path,
        [([], {"PROBE_EXIT": code, "LXM3_SOURCE": source})],
        entrypoint={"kind": "argv", "argv": [sys.executable, str(script)]},
        after_files=after_files,
    )


@pytest.mark.parametrize("code", ["0", "7"])
def test_after_files_and_metrics_are_kept_whatever_the_exit_code(tmp_path: Path, code: str) -> None:
    job = writer_job(tmp_path, ["*.ckpt", "eval/*.json", "eval/deep"], code)
    job.run(0)
    assert job.exit_code(0) == int(code)
    outputs = job.dir / "outputs" / "0"
    seen = json.loads(job.out(0).splitlines()[-1])
    assert seen == {"out": str(outputs), "metrics": str(outputs / "metrics.jsonl")}
    kept = sorted(str(p.relative_to(outputs)) for p in outputs.rglob("*") if p.is_file())
    assert kept == ["eval/a.json", "eval/deep/b.json", "metrics.jsonl", "model.ckpt"]
    assert (outputs / "model.ckpt").read_text() == "model.ckpt"
    lines = [json.loads(line) for line in (outputs / "metrics.jsonl").read_text().splitlines()]
    assert lines == [{"step": 0, "loss": 1.0}, {"step": 1, "loss": 0.5}, {"step": 2, "loss": 1 / 3}]
    assert not any(job.workroot.iterdir()), "the work dir is still removed"


def test_output_dir_exists_before_the_program_starts_and_nothing_is_copied_without_globs(
    tmp_path: Path,
) -> None:
    job = writer_job(tmp_path, [])
    job.run(0)
    outputs = job.dir / "outputs" / "0"
    assert sorted(p.name for p in outputs.iterdir()) == ["metrics.jsonl"]


def test_globs_cannot_reach_outside_the_work_dir(tmp_path: Path) -> None:
    from lxm3.runtime.task_runner import copy_after_files

    work = tmp_path / "work"
    work.mkdir()
    (tmp_path / "secret").write_text("no")
    (work / "link").symlink_to(tmp_path / "secret")
    (work / "ok.txt").write_text("yes")
    out = tmp_path / "out"
    assert copy_after_files(str(work), ["*", "../secret"], str(out)) == []
    assert sorted(p.name for p in out.iterdir()) == ["ok.txt"]


def test_report_is_a_no_op_outside_a_task(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LXM_METRICS_FILE", raising=False)
    reporting.report(loss=1.0)  # nothing to write to, nothing raised
    assert reporting.output_dir() is None or "LXM_OUTPUT_DIR" in os.environ


def test_report_rejects_values_that_are_not_numbers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LXM_METRICS_FILE", str(tmp_path / "m.jsonl"))
    with pytest.raises(TypeError, match="'name' must be a number"):
        reporting.report(name="x")
    reporting.report(loss="0.25", ok=True)
    assert json.loads((tmp_path / "m.jsonl").read_text()) == {"loss": 0.25, "ok": True}


def test_import_lxm3_stays_cheap() -> None:
    """`import lxm3` loads nothing else; `lxm3.report` brings only its own small module."""
    code = (
        "import sys, lxm3\n"
        "heavy = lambda: sorted(m for m in sys.modules if m.split('.')[0] in ('lxm3', 'attrs', 'rich', 'jinja2', 'json', 'typing'))\n"
        "print([heavy(), lxm3.report.__module__, heavy()])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    before, module, after = json.loads(out.replace("'", '"'))
    assert before == ["lxm3"]
    assert module == "lxm3.reporting" and "lxm3.reporting" in after
    assert not [name for name in after if name.split(".")[0] in ("attrs", "rich", "jinja2")]


def test_after_files_globs_are_checked_where_they_are_named() -> None:
    from lxm3 import xm_cluster

    assert xm_cluster.Slurm(after_files="*.pt").after_files == ("*.pt",)
    with pytest.raises(ValueError, match="inside the task's work dir"):
        xm_cluster.Local(after_files=["../x"])
    with pytest.raises(ValueError, match="inside the task's work dir"):
        xm_cluster.GridEngine(after_files=["/abs/*.pt"])
    with pytest.raises(TypeError, match="non-empty glob"):
        xm_cluster.Slurm(after_files=[3])
