"""Dependencies at `add`: dry-run listing, and errors raised before anything is submitted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lxm3 import xm, xm_cluster


def _executable(experiment: Any, tmp_path: Path) -> Any:
    (tmp_path / "pkg").mkdir(exist_ok=True)
    (tmp_path / "pkg" / "run.sh").write_text("#!/bin/sh\nexit 0\n")
    (tmp_path / "pkg" / "build.sh").write_text('#!/bin/sh\ncp run.sh "$BUILDDIR/"\n')
    (tmp_path / "pkg" / "build.sh").chmod(0o755)
    spec = xm_cluster.UniversalPackage(
        path=str(tmp_path / "pkg"), entrypoint=["sh", "run.sh"], build_script="build.sh"
    )
    [executable] = experiment.package([xm.Packageable(spec, executor_spec=xm_cluster.Local.Spec())])
    return executable


def _array(executable: Any, n: int) -> Any:
    return xm_cluster.ArrayJob(executable, xm_cluster.Local(), args=[{"i": i} for i in range(n)])


def test_dry_run_prints_each_jobs_dependency(
    lxm_config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LXM3_DRY_RUN", "1")
    with xm_cluster.create_experiment("dry-pipeline") as experiment:
        executable = _executable(experiment, tmp_path)
        a = experiment.add(_array(executable, 2)).result()
        b = experiment.add(_array(executable, 2), dependency=a.after_succeeded(per_task=True)).result()
        experiment.add(_array(executable, 1), dependency=a.after_failed() | b.after_finished()).result()
    out = capsys.readouterr().out
    assert "# waits for: work unit 1 succeeded (task by task)\n" in out
    assert "# waits for: work unit 1 failed or work unit 2 finished\n" in out


def test_mixed_operators_fail_at_add_before_an_id_is_reserved(lxm_config: Path, tmp_path: Path) -> None:
    with xm_cluster.create_experiment("mixed") as experiment:
        executable = _executable(experiment, tmp_path)
        a = experiment.add(_array(executable, 1)).result()
        with pytest.raises(xm.DependencyError, match="cannot mix"):
            experiment.add(
                _array(executable, 1), dependency=(a.after_succeeded() & a.after_started()) | a.after_failed()
            )
        assert experiment.work_unit_count == 1


def test_per_task_needs_arrays_of_the_same_size(lxm_config: Path, tmp_path: Path) -> None:
    sizes = "pairs task i with task i: work unit 1 has 3 task"
    with pytest.raises(xm.DependencyError, match=sizes), xm_cluster.create_experiment("sizes") as experiment:
        executable = _executable(experiment, tmp_path)
        a = experiment.add(_array(executable, 3)).result()
        experiment.add(_array(executable, 2), dependency=a.after_succeeded(per_task=True)).result()


def test_dependency_must_come_from_a_unit(lxm_config: Path, tmp_path: Path) -> None:
    with xm_cluster.create_experiment("not-a-dependency") as experiment:
        executable = _executable(experiment, tmp_path)
        with pytest.raises(TypeError, match="after_succeeded"):
            experiment.add(_array(executable, 1), dependency="1")  # type: ignore[arg-type]
