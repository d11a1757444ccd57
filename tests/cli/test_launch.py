"""`lxm3 launch` and `lxm3 version`, run as a user runs them: the installed console script."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import lxm3
from tests.cli.inprocess import lxm3_in_process

LXM3 = Path(sys.executable).with_name("lxm3")


def lxm3_cli(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    command = [str(LXM3)] if LXM3.exists() else [sys.executable, "-m", "lxm3.cli.main"]
    return subprocess.run(
        [*command, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout
    )


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def assert_one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("lxm3: error: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_version() -> None:
    for spelling in ("version", "--version"):
        result = lxm3_cli(spelling)
        assert result.returncode == 0
        assert result.stdout == f"lxm3 {lxm3.__version__}\n"
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", lxm3.__version__)


def test_missing_launcher_is_exit_2_with_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Refused before anything is loaded: run in this process (coverage counts it).
    monkeypatch.chdir(tmp_path)
    result = lxm3_in_process("launch", "no_such_launcher.py")
    assert result.returncode == 2
    assert assert_one_error_line(result.stderr) == "lxm3: error: launcher no_such_launcher.py does not exist"


def test_launcher_with_import_error_is_exit_2_without_a_traceback(tmp_path: Path) -> None:
    launcher = write(tmp_path / "launcher.py", "import os\nimport lxm3_surely_missing_dependency\n")
    result = lxm3_cli("launch", str(launcher))
    assert result.returncode == 2
    line = assert_one_error_line(result.stderr)
    assert f"cannot load launcher {launcher}" in line and "lxm3_surely_missing_dependency" in line


def test_launcher_with_syntax_error_is_exit_2_naming_file_and_line(tmp_path: Path) -> None:
    launcher = write(tmp_path / "launcher.py", "x = 1\n\ndef main(:\n    pass\n")
    result = lxm3_cli("launch", str(launcher))
    assert result.returncode == 2
    line = assert_one_error_line(result.stderr)
    assert "SyntaxError" in line and f"{launcher}:3" in line


def test_error_raised_by_the_launcher_is_one_line_with_its_location(tmp_path: Path) -> None:
    launcher = write(
        tmp_path / "launcher.py",
        "def main():\n    raise ValueError('learning rate must be positive')\n\nmain()\n",
    )
    result = lxm3_cli("launch", str(launcher))
    assert result.returncode == 1
    line = assert_one_error_line(result.stderr)
    assert "ValueError: learning rate must be positive" in line and f"{launcher}:2" in line
    debug = lxm3_cli("launch", str(launcher), env={**os.environ, "LXM3_DEBUG": "1"})
    assert debug.returncode == 1 and "Traceback" in debug.stderr


def test_system_exit_message_and_code(tmp_path: Path) -> None:
    launcher = write(tmp_path / "launcher.py", "import sys\nsys.exit('nothing to launch')\n")
    result = lxm3_cli("launch", str(launcher))
    assert (result.returncode, result.stderr) == (1, "nothing to launch\n")
    quiet = write(tmp_path / "quiet.py", "raise SystemExit(7)\n")
    assert lxm3_cli("launch", str(quiet)).returncode == 7


FLAGS_LAUNCHER = """\
import json
from absl import app, flags
from lxm3 import xm_cluster

_NAME = flags.DEFINE_string("name", "default", "a name")
_COUNT = flags.DEFINE_integer("count", 0, "a count")
_DRY = flags.DEFINE_bool("dry", False, "a flag spelled like lxm3's own")


def main(argv):
    config = xm_cluster.config.load_config()
    print(json.dumps({"name": _NAME.value, "count": _COUNT.value, "dry": _DRY.value, "argv": argv[1:], "config": config.source}))


if __name__ == "__main__":
    app.run(main)
"""


@pytest.mark.parametrize("separator", [[], ["--"]])
def test_flags_after_the_launcher_reach_absl(tmp_path: Path, separator: list[str]) -> None:
    launcher = write(tmp_path / "launcher.py", FLAGS_LAUNCHER)
    config = write(tmp_path / "mine.toml", 'project = "p"\n')
    result = lxm3_cli(
        "launch",
        str(launcher),
        *separator,
        "--name=two words",
        "--count",
        "3",
        "--dry",
        f"--lxm_config={config}",
        "positional",
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "name": "two words",
        "count": 3,
        "dry": True,
        "argv": ["positional"],
        "config": str(config),
    }


def test_unknown_launcher_flag_is_reported_by_absl(tmp_path: Path) -> None:
    launcher = write(tmp_path / "launcher.py", FLAGS_LAUNCHER)
    result = lxm3_cli("launch", str(launcher), "--", "--bogus=1")
    assert result.returncode != 0
    assert "bogus" in result.stderr


def test_bad_config_is_one_line_naming_file_and_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write(tmp_path / "lxm.toml", '[[clusters]]\nname = "c"\nsever = "login"\n')
    monkeypatch.setenv("LXM_CONFIG", str(config))
    launcher = write(
        tmp_path / "launcher.py",
        """\
        from lxm3 import xm_cluster
        with xm_cluster.create_experiment("x") as experiment:
            pass
        """,
    )
    result = lxm3_cli("launch", str(launcher))
    assert result.returncode == 1
    line = assert_one_error_line(result.stderr)
    assert str(config) in line and "'sever'" in line


# ----- an lxm3 0.4 launch script, unchanged -----

LAUNCHER_04 = """\
#!/usr/bin/env python3
from absl import app
from absl import flags

from lxm3 import xm
from lxm3 import xm_cluster

_SEEDS = flags.DEFINE_integer("seeds", 3, "Number of seeds to sweep")


def main(_):
    with xm_cluster.create_experiment(experiment_title="basic") as experiment:
        executor = xm_cluster.Local(
            xm_cluster.JobRequirements(cpu=1, ram=1 * xm.GiB),
        )
        config_resource = xm_cluster.Fileset(files={"config.txt": "config.txt"})
        spec = xm_cluster.PythonPackage(
            # Relative to this launcher, wherever lxm3 is run from.
            path=".",
            entrypoint=xm_cluster.ModuleName("py_package.main"),
            resources=[config_resource],
        )
        [executable] = experiment.package(
            [
                xm.Packageable(
                    executable_spec=spec,
                    executor_spec=executor.Spec(),
                    args={"config": config_resource.get_path("config.txt", executor.Spec())},
                    env_vars={"BAKED": "yes"},
                )
            ]
        )

        seeds = list(range(_SEEDS.value))
        args = [{"seed": seed} for seed in seeds]
        env_vars = [{"TASK": f"task_{seed}"} for seed in seeds]
        experiment.add(
            xm_cluster.ArrayJob(executable=executable, executor=executor, args=args, env_vars=env_vars)
        )

        async def make_job(work_unit: xm.WorkUnit, **args):
            job = xm.Job(executable=executable, executor=executor, args=args, env_vars={"TASK": "generated"})
            work_unit.add(job)

        experiment.add(make_job, {"seed": 42})


if __name__ == "__main__":
    app.run(main)
"""

MAIN_04 = """\
import os
import sys


def main():
    args = dict(arg[2:].split("=", 1) for arg in sys.argv[1:])
    with open(args["config"]) as handle:
        config = handle.read().strip()
    print(
        "task=%s seed=%s TASK=%s BAKED=%s config=%s"
        % (os.environ["LXM_TASK_ID"], args["seed"], os.environ["TASK"], os.environ["BAKED"], config)
    )


if __name__ == "__main__":
    main()
"""

PYPROJECT_04 = """\
[build-system]
requires = ["flit_core>=3.2"]
build-backend = "flit_core.buildapi"

[project]
name = "py_package"
version = "0.1.0"
description = "the basic example"
"""


def test_lxm3_0_4_launch_script_runs_unchanged(
    tmp_path: Path, lxm_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "basic"
    write(project / "launcher.py", LAUNCHER_04)
    write(project / "pyproject.toml", PYPROJECT_04)
    write(project / "py_package" / "__init__.py", "")
    write(project / "py_package" / "main.py", MAIN_04)
    write(project / "config.txt", "lr=0.1\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.setenv("LXM3_LOCAL_ECHO", "1")

    result = lxm3_cli("launch", str(project / "launcher.py"), "--", "--seeds=4", cwd=elsewhere)
    assert result.returncode == 0, result.stderr

    expected = {f"task={i} seed={i} TASK=task_{i} BAKED=yes config=lr=0.1" for i in range(4)}
    staging = tmp_path / "staging" / "experiments"
    sweep_logs = sorted((staging).glob("*/1/*/logs/*.out"))
    assert {path.read_text().strip() for path in sweep_logs} == expected
    [generated_log] = (staging).glob("*/2/*/logs/0.out")
    assert generated_log.read_text().strip() == "task=0 seed=42 TASK=generated BAKED=yes config=lr=0.1"
    echoed = {line.split("] ", 1)[1] for line in result.stdout.splitlines() if line.startswith("[")}
    assert expected | {"task=0 seed=42 TASK=generated BAKED=yes config=lr=0.1"} <= echoed
    assert list(elsewhere.iterdir()) == [], "nothing is written to the current directory"
