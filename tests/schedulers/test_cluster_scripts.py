"""What the Slurm and Grid Engine job scripts share, run with bash as each scheduler would run them.

Both render through job.sh.j2: the script turns the scheduler's array index into lxm3's
global task id (chunk offset added, or looked up in a rerun's index map) and hands the
task runner its env byte for byte. Only the variable differs (SLURM_ARRAY_TASK_ID from 0,
SGE_TASK_ID from 1, "undefined" outside an array). Golden files and directives stay in
test_slurm.py and test_sge.py.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from lxm3.schedulers.base import ArrayChunk
from tests.clusters import KIND_PARAMS, Kind
from tests.hostile import HOSTILE_VALUES, one_line
from tests.schedulers.requests import render_request

pytestmark = pytest.mark.parametrize("kind", KIND_PARAMS)


request = render_request


def run_script(script: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(script)], env={"PATH": os.environ["PATH"], **env}, capture_output=True, text=True
    )


def test_script_computes_the_global_task_id_and_passes_env_byte_for_byte(kind: Kind, tmp_path: Path) -> None:
    dump = tmp_path / "dump.py"
    dump.write_text(
        "import json, os, sys\n"
        "json.dump({'argv': sys.argv[1:], 'env': {k: v for k, v in os.environ.items() if k.startswith('HOSTILE_')}},"
        " open(os.environ['OUT'], 'w'))\n"
    )
    # Every one-line value (an env value with a line break is refused only where it would start a
    # `#$` line), plus a line break and a `#$` inside a line.
    values = [*one_line([*HOSTILE_VALUES, *kind.hostile_extra]), "new\nline", "mid #$ -q x"]
    env_values = {f"HOSTILE_{i}": value for i, value in enumerate(values)}
    case = request(
        kind.executor(),
        chunk=ArrayChunk(101, 50),
        num_tasks=151,
        runner_path=str(dump),
        spec_path=str(tmp_path / "spec with space.json"),
        env=env_values,
    )
    script = tmp_path / "job.sh"
    script.write_text(kind.scheduler_class().render(case))
    out = tmp_path / "out.json"
    first = kind.first_array_index
    runs: list[tuple[dict[str, str], str]] = [
        ({kind.array_index_var: str(first + 7)}, "108"),
        ({kind.array_index_var: str(first)}, "101"),
        ({}, "101"),  # not an array: the variable is unset
    ]
    if kind.name == "sge":
        runs.append(({"SGE_TASK_ID": "undefined"}, "101"))  # what Grid Engine sets outside an array
    for array_env, expected in runs:
        out.unlink(missing_ok=True)
        completed = run_script(script, {"OUT": str(out), **array_env})
        assert completed.returncode == 0, completed.stderr
        result = json.loads(out.read_text())
        assert result["argv"] == [str(tmp_path / "spec with space.json"), expected], array_env
        assert result["env"] == env_values


def test_index_map_picks_the_task_id_by_array_index(kind: Kind, tmp_path: Path) -> None:
    index_map = tmp_path / "rerun.idx"
    index_map.write_text("3\n17\n42\n")
    case = request(
        kind.executor(), chunk=ArrayChunk(0, 3), num_tasks=50, index_map=str(index_map), python="echo"
    )
    script = tmp_path / "job.sh"
    script.write_text(kind.scheduler_class().render(case))
    for position, task_id in enumerate(["3", "17", "42"]):
        completed = run_script(script, {kind.array_index_var: str(kind.first_array_index + position)})
        assert completed.returncode == 0, completed.stderr
        assert completed.stdout.splitlines()[0].split()[-1] == task_id
