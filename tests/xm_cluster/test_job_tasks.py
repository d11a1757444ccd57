"""How a job's args and env become task argv/env: XManager's list flags, env values rendered as strings."""

from __future__ import annotations

from lxm3 import xm, xm_cluster
from lxm3.xm_cluster import launching
from lxm3.xm_cluster.executables import Command, Entrypoint


def test_tasks_repeat_list_flags_and_render_env_values_to_strings() -> None:
    executable = Command(
        name="trainer",
        entrypoint=Entrypoint("module", ("train",)),
        args=xm.SequentialArgs.from_collection({"base": 1}),
        env_vars={"BASE": 0.5},  # type: ignore[dict-item]
    )
    job = xm.Job(
        executable, xm_cluster.Local(), args={"c": [3, "4"], "on": True}, env_vars={"N": 3, "F": False}
    )
    assert job.env_vars == {"N": 3, "F": False}  # kept as given on the Job
    ((argv, env),) = launching.job_tasks(job).tasks
    assert argv == ["--base=1", "--c=3", "--c=4", "--on"]
    assert env == {"BASE": "0.5", "N": "3", "F": "False"}
