"""Golden tests: the exact container command lines for Local, Slurm and SGE jobs.

Each case stages a real job (task table, job.json, job script) for a target,
then builds the command the task runner would run for task 0, with the binary
lookup pinned (`/usr/bin/<name>`, or the configured binary) and a fixed
working directory. Compared with tests/containers/golden/<case>.json;
regenerate with LXM3_UPDATE_GOLDEN=1 after an intended change, and review
the diff.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lxm3 import xm, xm_cluster
from lxm3.runtime import task_runner
from lxm3.schedulers.base import ArrayChunk
from lxm3.schedulers.local import LocalScheduler
from lxm3.transport.local import LocalTransport
from lxm3.xm_cluster import launching, targets
from lxm3.xm_cluster.config import ClusterConfig
from lxm3.xm_cluster.packaging import Packager

from .conftest import Sandbox

GOLDEN = Path(__file__).parent / "golden"
WORKDIR = "/tmp/lxm3-job-0-golden"
REMOTE_STAGING = "/cluster/home/me/lxm3-staging"
IMAGE_BYTES = b"not a real image: fixed bytes for a stable digest\n" * 100
ARGS = [["it's", "$HOME", "a b\nc", "", "ünï"], ["second"]]
ENV = [{"HOSTILE": '$(id) `x` "q"\t*', "EMPTY": ""}, {"HOSTILE": "two", "EMPTY": ""}]


def _cluster_config() -> ClusterConfig:
    return ClusterConfig(
        name="golden",
        singularity_binary="/opt/apptainer/1.3/bin/apptainer",
        singularity_binds={"/scratch": "/scratch", "/datasets": "/data:ro"},
        env={"SITE_VAR": "from-config"},
    )


def _slurm_target(local_root: Path) -> targets.Target:
    from lxm3.schedulers.slurm import SlurmScheduler

    return targets.Target(
        name="golden",
        scheduler=SlurmScheduler(cluster_name="golden", cache_dir=local_root / "slurm-cache"),
        transport_factory=LocalTransport,
        staging=REMOTE_STAGING,
        env={"SITE_VAR": "from-config"},
        cluster_config=_cluster_config(),
    )


def _sge_target(local_root: Path) -> targets.Target:
    sge = pytest.importorskip("lxm3.schedulers.sge")
    return targets.Target(
        name="golden",
        scheduler=sge.GridEngineScheduler(),
        transport_factory=LocalTransport,
        staging=REMOTE_STAGING,
        env={"SITE_VAR": "from-config"},
        cluster_config=_cluster_config(),
    )


def _local_target(local_root: Path) -> targets.Target:
    return targets.Target(
        name="local",
        scheduler=LocalScheduler(echo=False),
        transport_factory=LocalTransport,
        staging=str(local_root),
        is_local=True,
    )


def _probe(box: Sandbox) -> xm_cluster.PythonPackage:
    return xm_cluster.PythonPackage(entrypoint=xm_cluster.ModuleName("probe.main"), path=str(box.project))


def _sif(box: Sandbox) -> Any:
    (box.root / "golden.sif").write_bytes(IMAGE_BYTES)
    return xm_cluster.SingularityContainer(_probe(box), image_path="golden.sif")


CASES: dict[str, tuple[Callable[[Path], targets.Target], Callable[[Sandbox], Any], Callable[[], Any]]] = {
    "local_cpu": (_local_target, _sif, lambda: xm_cluster.Local()),
    "local_gpu_binds_options": (
        _local_target,
        _sif,
        lambda: xm_cluster.Local(
            xm.JobRequirements(gpu=1),
            singularity_options=xm_cluster.SingularityOptions(
                bind={"/data": "/data:ro"}, extra_options=["--cleanenv", "--contain"]
            ),
        ),
    ),
    "local_docker": (
        _local_target,
        lambda box: xm_cluster.DockerContainer(_probe(box), image="python:3.11-slim"),
        lambda: xm_cluster.Local(
            docker_options=xm_cluster.DockerOptions(
                volumes={"/data": "/mnt/data"}, extra_options=["--network=none"]
            )
        ),
    ),
    "local_docker_gpu": (
        _local_target,
        lambda box: xm_cluster.DockerContainer(_probe(box), image="python:3.11-slim"),
        lambda: xm_cluster.Local(xm.JobRequirements(gpu=1)),
    ),
    "slurm_cpu": (_slurm_target, _sif, lambda: xm_cluster.Slurm()),
    "slurm_gpu_uri": (
        _slurm_target,
        lambda box: xm_cluster.SingularityContainer(
            _probe(box), image_path="docker://nvcr.io/nvidia/pytorch:24.01-py3"
        ),
        lambda: xm_cluster.Slurm(
            requirements=xm.JobRequirements(gpu=2),
            singularity_options=xm_cluster.SingularityOptions(
                bind={"/scratch": "/work"}, extra_options=["--writable-tmpfs"]
            ),
        ),
    ),
    "slurm_xm_container": (
        _slurm_target,
        lambda box: xm.Container(image_path="docker://busybox:1.36"),
        lambda: xm_cluster.Slurm(),
    ),
    "slurm_remote_image": (
        _slurm_target,
        lambda box: xm_cluster.SingularityContainer(_probe(box), image_path="/cluster/images/shared.sif"),
        lambda: xm_cluster.Slurm(),
    ),
    "sge_cpu": (
        _sge_target,
        _sif,
        lambda: __import__("lxm3.xm_cluster", fromlist=["GridEngine"]).GridEngine(),
    ),
    "sge_gpu": (
        _sge_target,
        _sif,
        lambda: __import__("lxm3.xm_cluster", fromlist=["GridEngine"]).GridEngine(
            requirements=xm.JobRequirements(gpu=1)
        ),
    ),
}


def _pinned_which(name: str, path: str | None = None) -> str:
    return name if os.path.isabs(name) else f"/usr/bin/{name}"


def _render_case(case: str, box: Sandbox) -> dict[str, Any]:
    make_target, make_spec, make_executor = CASES[case]
    local_root = box.root / "mirror"
    target = make_target(local_root)
    executor = make_executor()
    executable = Packager().package(xm.Packageable(make_spec(box), executor_spec=executor.Spec()))
    job = launching.job_tasks(
        xm_cluster.ArrayJob(executable=executable, executor=executor, args=ARGS, env_vars=ENV)
    )
    staged = launching.stage_job(
        job, target, local_root, "experiments/1/1", label="golden", chunks=[ArrayChunk(0, 2)]
    )
    job_dir = local_root / staged.job_rel
    spec = json.loads((job_dir / "job.json").read_text())
    record = task_runner.read_task(job_dir / spec["table"], job_dir / spec["index"], 0)
    container = spec["container"]
    binary = task_runner.find_container_binary(container, {"PATH": ""}, which=_pinned_which)
    keys = task_runner.task_env_keys(spec, record)
    argv = task_runner.container_argv(
        container, binary, WORKDIR, keys, task_runner.entrypoint_argv(spec, record["args"])
    )
    env = dict(
        spec["env"],
        **record["env"],
        LXM_TASK_ID="0",
        LXM_NUM_TASKS="2",
        LXM_WORKDIR=WORKDIR,
        PYTHONPATH=WORKDIR,
    )
    client_env = task_runner.container_env(container, binary, env, keys)
    prefixed = {
        k: v for k, v in sorted(client_env.items()) if k.startswith(("APPTAINERENV_", "SINGULARITYENV_"))
    }
    script = (local_root / staged.scripts[0].path[len(staged.remote_root) + 1 :]).read_text()
    # The script runs the runner on this job.json; the container command is built by the runner.
    assert f"{staged.remote_dir}/job.json" in script and "apptainer" not in script
    result = {
        "job_spec_container": container,
        "argv": argv,
        "prefixed_env": prefixed,
        "staged_content_addressed": list(staged.content_addressed),
    }
    text = json.dumps(result, indent=1, sort_keys=True, ensure_ascii=False)
    text = text.replace(str(local_root), "<staging>").replace(
        f'"{os.getuid()}:{os.getgid()}"', '"<uid>:<gid>"'
    )
    text = text.replace(task_runner.__name__, "task_runner")
    return json.loads(text)


@pytest.mark.parametrize("case", sorted(CASES))
def test_container_command_golden(case: str, sandbox: Sandbox) -> None:
    got = _render_case(case, sandbox)
    # Only the image: the runner and code zip digests change with unrelated edits and tmp paths.
    got["staged_content_addressed"] = [
        name for name in got["staged_content_addressed"] if name.endswith(".sif")
    ]
    path = GOLDEN / f"{case}.json"
    if os.environ.get("LXM3_UPDATE_GOLDEN") == "1":
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(json.dumps(got, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    assert path.exists(), f"no golden file {path}; run with LXM3_UPDATE_GOLDEN=1 and review it"
    assert got == json.loads(path.read_text())


def test_gpu_cases_and_only_they_get_nv(sandbox: Sandbox) -> None:
    for case in ("local_cpu", "local_gpu_binds_options", "slurm_cpu", "slurm_gpu_uri", "sge_cpu", "sge_gpu"):
        if case.startswith("sge"):
            pytest.importorskip("lxm3.schedulers.sge")
        golden = json.loads((GOLDEN / f"{case}.json").read_text())
        assert golden["job_spec_container"]["nv"] is ("gpu" in case), case
        assert ("--nv" in golden["argv"]) is ("gpu" in case), case
