"""From a job to submitted scheduler jobs: stage, deploy, submit (the names launch scripts' tools use).

    stage   `lxm3.xm_cluster.staging`: the task table, job spec and one job
            script per array chunk, in a local mirror of the staging root
    deploy  `lxm3.xm_cluster.deploying`: send what the target lacks
    submit  `lxm3.xm_cluster.deploying.submit`: one scheduler command

This module only gathers those names for callers that import them from here.
"""

from __future__ import annotations

from lxm3.xm_cluster.deploying import (
    LARGE_UPLOAD_BYTES,
    OWNER_FILE,
    ArtifactsMissingError,
    DeployPlan,
    PresenceRecord,
    check_prepared,
    deploy,
    fast_deploy,
    prepare_remote,
    prepare_script,
    submit,
    upload_progress,
)
from lxm3.xm_cluster.staging import (
    RUNNER_SOURCE,
    JobTasks,
    StagedJob,
    job_tasks,
    render_scripts,
    runner_name,
    stage_job,
    stage_scripts,
)

__all__ = [
    "LARGE_UPLOAD_BYTES",
    "OWNER_FILE",
    "RUNNER_SOURCE",
    "ArtifactsMissingError",
    "DeployPlan",
    "JobTasks",
    "PresenceRecord",
    "StagedJob",
    "check_prepared",
    "deploy",
    "fast_deploy",
    "job_tasks",
    "prepare_remote",
    "prepare_script",
    "render_scripts",
    "runner_name",
    "stage_job",
    "stage_scripts",
    "submit",
    "upload_progress",
]
