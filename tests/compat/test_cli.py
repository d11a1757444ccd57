"""lxm3 0.4's command line and contrib helpers, run as a user would: W&B env vars reach the
program, `lxm3 clean` takes 0.4's flags, `lxm3 shell` holds a client of the configured cluster."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.clusters import on_testbed
from tests.compat import projects
from tests.compat.conftest import Workspace, task_logs

WANDB_LAUNCHER = """\
from absl import app

from lxm3 import xm, xm_cluster
from lxm3.contrib import wandb


def main(_):
    with xm_cluster.create_experiment(experiment_title="wandb") as experiment:
        executor = xm_cluster.Local()
        spec = xm_cluster.PythonPackage(path=".", entrypoint=xm_cluster.ModuleName("py_package.main"))
        [executable] = experiment.package([xm.Packageable(spec, executor_spec=executor.Spec())])
        log_to_wandb = wandb.configure_wandb(project="proj", entity="team", mode="offline")
        experiment.add(log_to_wandb(xm.Job(executable, executor, args={"seed": 1}, env_vars={"FOO": "BAR"})))
        experiment.add(log_to_wandb(xm_cluster.ArrayJob(executable, executor, args=[{"seed": 2}, {"seed": 3}])))


if __name__ == "__main__":
    app.run(main)
"""


def test_configure_wandb_sets_the_run_env(workspace: Workspace) -> None:
    projects.python_project(workspace.root)
    projects.local_config(workspace.root)
    launcher = workspace.root / "launcher.py"
    launcher.write_text(WANDB_LAUNCHER)
    result = workspace.launch(launcher)
    assert result.returncode == 0, result.describe()
    logs = task_logs(workspace.root / ".cache" / "lxm")
    assert len(logs) == 3
    single = next(text for text in logs.values() if "--seed=1" in text)
    assert (
        "env FOO=BAR" in single and "env WANDB_PROJECT=proj" in single and "env WANDB_ENTITY=team" in single
    )
    assert "env WANDB_MODE=offline" in single and "env WANDB_NAME=wandb_1_1" in single
    assert "env WANDB_RUN_GROUP=wandb_1_1" in single
    second = next(text for text in logs.values() if "--seed=3" in text)
    assert "env WANDB_NAME=wandb_1_2_2" in second and "env WANDB_RUN_GROUP=wandb_1_2" in second


def test_clean_takes_0_4_flags(workspace: Workspace) -> None:
    launcher = projects.batch(workspace.root)
    config = projects.local_config(workspace.root, staging=str(workspace.root / "staging"))
    config.write_text(config.read_text().replace('project = ""', 'project = "mine"'))
    workspace.env["LXM_CONFIG"] = str(config)
    assert workspace.launch(launcher).returncode == 0
    staged = workspace.root / "staging" / "experiments" / "1"
    assert staged.is_dir()
    shown = workspace.lxm3("clean", "--project", "mine", "--days", "0", "--dry_run", "--type", "job")
    assert shown.returncode == 0, shown.describe()
    assert "experiments/1" in shown.stdout and "artifacts/" not in shown.stdout and staged.is_dir()
    other = workspace.lxm3("clean", "--project", "theirs", "--days", "0", "--force")
    assert other.returncode == 2 and "no experiment of project 'theirs'" in other.stderr
    bad = workspace.lxm3("clean", "--type", "jobs")
    assert bad.returncode == 2 and "valid: job, archive, container" in bad.stderr
    removed = workspace.lxm3("clean", "--project", "mine", "--days", "0", "--force", "--type", "job")
    assert removed.returncode == 0, removed.describe()
    assert not staged.exists()


@pytest.mark.ssh
@pytest.mark.skipif(
    not Path(os.environ.get("LXM3_TESTBED_SSH_CONFIG", "/tmp/lxm3-testbed/ssh/ssh_config")).is_file(),
    reason="needs the testbed's sshd (tests/testbed/up.sh)",
)
@pytest.mark.parametrize("scheduler", on_testbed("slurm", "sge"))
def test_shell_holds_a_client_of_the_configured_cluster(workspace: Workspace, scheduler: str) -> None:
    ssh_config = os.environ.get("LXM3_TESTBED_SSH_CONFIG", "/tmp/lxm3-testbed/ssh/ssh_config")
    alias = os.environ.get("LXM3_TESTBED_ALIAS", "testcluster")
    config = workspace.root / "lxm.toml"
    config.write_text(
        f'[[clusters]]\nname = "tb"\nserver = "{alias}"\nssh_config = "{ssh_config}"\nscheduler = "{scheduler}"\n'
        '[clusters.storage]\nstaging = "/tmp/lxm3-shell-unused"\n'
    )
    script = (
        'print("KIND", client.kind)\nprint("ECHO", client.run(["echo", "a b"]).strip())\nclient.queue()\n'
    )
    result = workspace.lxm3("shell", "--lxm_config", str(config), stdin=script, timeout=180)
    assert result.returncode == 0, result.describe()
    assert f"KIND {scheduler}" in result.stdout and "ECHO a b" in result.stdout
