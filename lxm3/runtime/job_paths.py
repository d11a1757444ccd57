"""Every path of a job, in one place, on either side (local mirror or execution host).

The staging layout is the same locally and on the cluster:

    <staging>/experiments/<exp>/<wu>/<job>/            job.json, tasks.jsonl, tasks.idx
    <staging>/experiments/<exp>/<wu>/<job>/job-<k>.sh  scripts of the launch (attempt 1)
    <staging>/experiments/<exp>/<wu>/<job>/job-a<n>-<k>.sh, index-a<n>-<k>.txt   rerun n
    <staging>/experiments/<exp>/<wu>/<job>/logs/       <task>.out, <task>.err, <task>.exit
    <staging>/experiments/<exp>/<wu>/<job>/logs/attempt-<n>/   an earlier attempt's logs
    <staging>/experiments/<exp>/<wu>/<job>/outputs/<task>/     files a task leaves behind

No other module joins these names: launching, rerun, reload, status, logs and
clean all ask a `JobPaths`. The task runner (stdlib only, shipped alone) reads
the same names from the job spec it is given.
"""

from __future__ import annotations

import attrs

SPEC_NAME = "job.json"
TABLE_NAME = "tasks.jsonl"
INDEX_NAME = "tasks.idx"
LOGS_NAME = "logs"
OUTPUTS_NAME = "outputs"


def unit_rel(experiment_id: int, work_unit_id: int) -> str:
    """A work unit's directory, relative to the staging root."""
    return f"experiments/{experiment_id}/{work_unit_id}"


def job_rel(experiment_id: int, work_unit_id: int, job_name: str) -> str:
    """A job's directory, relative to the staging root."""
    return f"{unit_rel(experiment_id, work_unit_id)}/{job_name}"


@attrs.frozen
class JobPaths:
    """The paths of one job under `job_dir` (absolute on one side, or relative to a staging root)."""

    job_dir: str
    #: Where the logs are, when the store recorded another place (older launches).
    log_dir_override: str | None = None

    @classmethod
    def under(cls, root: str, rel: str, log_dir: str | None = None) -> JobPaths:
        """The job at `rel` below a staging root (`root` empty: paths stay relative)."""
        return cls(f"{root}/{rel}" if root else rel, log_dir)

    @property
    def spec(self) -> str:
        return f"{self.job_dir}/{SPEC_NAME}"

    @property
    def table(self) -> str:
        return f"{self.job_dir}/{TABLE_NAME}"

    @property
    def index(self) -> str:
        return f"{self.job_dir}/{INDEX_NAME}"

    @property
    def log_dir(self) -> str:
        return self.log_dir_override or f"{self.job_dir}/{LOGS_NAME}"

    def log(self, task: int, stream: str = "out") -> str:
        """A task's `out`/`err` log or its `exit` completion file."""
        return f"{self.log_dir}/{task}.{stream}"

    def exit_file(self, task: int) -> str:
        return self.log(task, "exit")

    def attempt_log_dir(self, attempt: int) -> str:
        """Where an earlier attempt's logs move when its tasks are rerun."""
        return f"{self.log_dir}/attempt-{attempt}"

    def script(self, number: int, attempt: int = 1) -> str:
        """The job script of array chunk `number` (reruns get their own names per attempt)."""
        return (
            f"{self.job_dir}/job-{number}.sh"
            if attempt == 1
            else f"{self.job_dir}/job-a{attempt}-{number}.sh"
        )

    def index_map(self, number: int, attempt: int) -> str:
        """A rerun chunk's array position -> task id file."""
        return f"{self.job_dir}/index-a{attempt}-{number}.txt"

    @property
    def outputs_dir(self) -> str:
        return f"{self.job_dir}/{OUTPUTS_NAME}"

    def outputs(self, task: int) -> str:
        """The directory a task's outputs (results, metrics) are kept in."""
        return f"{self.outputs_dir}/{task}"
