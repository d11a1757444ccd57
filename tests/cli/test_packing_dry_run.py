"""`lxm3 launch --dry-run` shows packing: the packed scripts, and the one line saying why.

A dry run never contacts the cluster; auto-packing then goes by the limits
lxm3 cached from the cluster earlier (here written by the test, as the
cache a previous launch leaves in $XDG_CACHE_HOME/lxm3/clusters/).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from tests.cli.test_launch import lxm3_cli, write

LAUNCHER = """
from absl import app, flags
from lxm3 import xm, xm_cluster

PACK = flags.DEFINE_integer("pack", 0, "")


def main(_):
    with xm_cluster.create_experiment("packing") as experiment:
        spec = xm_cluster.UniversalPackage(path=".", entrypoint=["python3", "task.py"], build_script="build.sh")
        [executable] = experiment.package([xm.Packageable(spec, executor_spec=xm_cluster.Slurm.Spec())])
        extra = {"pack": PACK.value} if PACK.value else {}
        args = [{"seed": seed} for seed in range(10)]
        experiment.add(xm_cluster.ArrayJob(executable, xm_cluster.Slurm(), args=args, **extra))


if __name__ == "__main__":
    app.run(main)
"""


def setup_project(tmp_path: Path) -> dict[str, str]:
    write(tmp_path / "launch.py", LAUNCHER)
    write(tmp_path / "task.py", "print('hi')\n")
    build = write(tmp_path / "build.sh", '#!/bin/sh\ncp task.py "$BUILDDIR/"\n')
    build.chmod(0o755)
    write(
        tmp_path / "lxm.toml",
        f"""
        [local.storage]
        staging = "{tmp_path / "staging"}"
        [[clusters]]
        name = "site"
        server = "site-login"
        [clusters.storage]
        staging = "/scratch/me/lxm3"
        """,
    )
    cache = tmp_path / "cache"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LXM")}
    env.update(
        LXM_CONFIG=str(tmp_path / "lxm.toml"),
        LXM3_STORE=str(tmp_path / "store.sqlite3"),
        XDG_CACHE_HOME=str(cache),
        PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
    )
    return env


def test_dry_run_shows_an_explicit_pack(tmp_path: Path) -> None:
    env = setup_project(tmp_path)
    result = lxm3_cli("launch", "--dry-run", "launch.py", "--", "--pack=3", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert "(tasks 0..9, 3 per array task: 4 array tasks)" in result.stdout
    assert "#SBATCH --array=0-3\n" in result.stdout
    assert "$LXM_TASK_IDS" in result.stdout


def test_dry_run_packs_past_the_cached_limit_and_says_why(tmp_path: Path) -> None:
    env = setup_project(tmp_path)
    clusters = Path(env["XDG_CACHE_HOME"]) / "lxm3" / "clusters"
    clusters.mkdir(parents=True)
    (clusters / "site-limits.json").write_text(
        json.dumps({"host": "site-login", "time": time.time(), "max_submit_jobs": 4, "max_job_count": 10000})
    )
    result = lxm3_cli("launch", "--dry-run", "launch.py", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    notices = [line for line in result.stderr.splitlines() if "packing" in line]
    assert len(notices) == 1, result.stderr
    assert "10 tasks are more than site takes now" in notices[0] and "MaxSubmitJobs" in notices[0]
    assert "packing 3 tasks into each of 4 array tasks" in notices[0]
    assert "(tasks 0..9, 3 per array task: 4 array tasks)" in result.stdout
