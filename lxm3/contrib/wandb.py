"""Weights & Biases environment for an experiment's jobs (lxm3 0.4's `configure_wandb`).

    log_to_wandb = wandb.configure_wandb(project="my-project", entity="my-team")
    experiment.add(log_to_wandb(xm.Job(executable, executor, args=...)))
    experiment.add(log_to_wandb(xm_cluster.ArrayJob(executable, executor, args=[...])))

Each job gets `WANDB_PROJECT`, `WANDB_ENTITY`, `WANDB_MODE`, a run name
`WANDB_NAME=<title>_<experiment id>_<work unit id>` (array tasks add
`_<task number from 1>`) and `WANDB_RUN_GROUP` from `group` (placeholders
`{title}`, `{xid}`, `{wid}`), so runs of one sweep group together in W&B.
When the launch runs in a git checkout, `WANDB_GIT_COMMIT` (and
`WANDB_GIT_REMOTE_URL` when there is an upstream) record the code version.
The job's own env vars win over nothing but are kept; W&B's are added.
"""

from __future__ import annotations

import copy
import functools
import inspect
import subprocess
from collections.abc import Awaitable, Callable
from typing import Any

from lxm3 import xm
from lxm3.xm_cluster.array_job import ArrayJob


def _git(*argv: str) -> str | None:
    try:
        result = subprocess.run(["git", *argv], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    text = result.stdout.strip()
    return text if result.returncode == 0 and text else None


@functools.cache
def _vcs_env() -> tuple[tuple[str, str], ...]:
    """The checkout's commit and upstream URL (computed once per launch)."""
    env = []
    commit = _git("rev-parse", "HEAD")
    if commit:
        env.append(("WANDB_GIT_COMMIT", commit))
    remote = _git("config", "--get", "remote.origin.url")
    if remote:
        env.append(("WANDB_GIT_REMOTE_URL", remote))
    return tuple(env)


def configure_wandb(
    project: str,
    entity: str,
    group: str = "{title}_{xid}_{wid}",
    mode: str = "online",
) -> Callable[[Any], Callable[..., Awaitable[Any]]]:
    """A wrapper turning an `xm.Job` or `ArrayJob` into a job generator that adds W&B's env vars."""
    common = {"WANDB_PROJECT": project, "WANDB_ENTITY": entity, "WANDB_MODE": mode, **dict(_vcs_env())}

    def add_wandb_env_vars(job: Any) -> Callable[..., Awaitable[Any]]:
        if not isinstance(job, (xm.Job, ArrayJob)):
            raise TypeError(f"configure_wandb wraps an xm.Job or xm_cluster.ArrayJob, got {job!r}")
        job = copy.copy(job)

        async def job_generator(work_unit: Any, **_: Any) -> None:
            experiment = work_unit.experiment
            title = getattr(experiment, "title", None) or "experiment"
            xid, wid = work_unit.experiment_id, work_unit.work_unit_id
            run_group = group.format(title=title, xid=xid, wid=wid)
            name = f"{title}_{xid}_{wid}"
            wrapped: Any
            if isinstance(job, ArrayJob):
                env_vars = [
                    {**env, **common, "WANDB_NAME": f"{name}_{task + 1}", "WANDB_RUN_GROUP": run_group}
                    for task, env in enumerate(job.env_vars)
                ]
                wrapped = ArrayJob(
                    executable=job.executable,
                    executor=job.executor,
                    name=job.name,
                    args=job.args,
                    env_vars=env_vars,
                )
            else:
                wrapped = xm.Job(
                    executable=job.executable,
                    executor=job.executor,
                    name=job.name,
                    args=job.args,
                    env_vars={**job.env_vars, **common, "WANDB_NAME": name, "WANDB_RUN_GROUP": run_group},
                )
            launched = work_unit.add(wrapped)
            if inspect.isawaitable(launched):
                await launched

        return job_generator

    return add_wandb_env_vars
