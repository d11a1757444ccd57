"""lxm3 0.4's public API, name by name, in-process: contrib.ucl, config views, executors'
constructor forms, Grid Engine's 0.4 rules, GPU detection, ArrayJob(work_list=...)."""

from __future__ import annotations

import datetime
import logging
from pathlib import Path

import pytest

from lxm3 import xm, xm_cluster
from lxm3.contrib import ucl
from lxm3.schedulers.sge import _skipped
from lxm3.xm_cluster import config as config_lib
from lxm3.xm_cluster import requirements as cluster_requirements
from lxm3.xm_cluster.executors.gpu import wants_gpu

GB = xm.GB


# ----- lxm3.contrib.ucl: 0.4.2's translation table -----
@pytest.mark.parametrize(
    ("requirements", "resources", "environments"),
    [
        (dict(gpu=1, ram=8 * GB), {"gpu": "true", "tmem": 8 * GB}, {}),
        (dict(gpu=2, ram=8 * GB), {"gpu": "true", "tmem": 8 * GB}, {"gpu": 2}),
        (dict(ram=8 * GB), {"tmem": 8 * GB, "h_vmem": 8 * GB}, {}),
        (dict(gpu=0, ram=8 * GB), {"tmem": 8 * GB, "h_vmem": 8 * GB}, {}),
        (dict(gpu=0, cpu=2, ram=8 * GB), {"tmem": 8 * GB, "h_vmem": 8 * GB}, {"smp": 2}),
    ],
)
def test_ucl_cs(requirements: dict, resources: dict, environments: dict) -> None:
    executor = ucl.UclGridEngine(cluster_requirements.JobRequirements(location="cs", **requirements))
    assert executor.resources == resources and executor.parallel_environments == environments
    assert executor.cluster == "cs" and executor.modules == []


@pytest.mark.parametrize(
    ("requirements", "resources", "environments"),
    [
        (dict(gpu=1, ram=8 * GB), {"gpu": 1, "mem": 8 * GB}, {}),
        (dict(gpu=2, ram=8 * GB), {"gpu": 2, "mem": 8 * GB}, {}),
        (dict(ram=8 * GB), {"mem": 8 * GB}, {}),
        (dict(gpu=0, ram=8 * GB), {"mem": 8 * GB}, {}),
        (dict(gpu=0, cpu=2, ram=8 * GB), {"mem": 8 * GB}, {"smp": 2}),
    ],
)
def test_ucl_myriad(requirements: dict, resources: dict, environments: dict) -> None:
    executor = ucl.UclGridEngine(cluster_requirements.JobRequirements(location="myriad", **requirements))
    assert executor.resources == resources and executor.parallel_environments == environments
    assert executor.modules == ["singularity-env"]


def test_ucl_unknown_location_names_the_supported_clusters() -> None:
    with pytest.raises(ValueError, match="cs, myriad"):
        ucl.UclGridEngine(cluster_requirements.JobRequirements(location="unknown"))


def test_ucl_cluster_from_env_then_first_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "lxm.toml"
    config.write_text(
        '[[clusters]]\nname = "myriad"\nserver = "m"\n[[clusters]]\nname = "cs"\nserver = "c"\n'
    )
    monkeypatch.setenv("LXM_CONFIG", str(config))
    monkeypatch.delenv("LXM_CLUSTER", raising=False)
    assert ucl.UclGridEngine(xm_cluster.JobRequirements(ram=GB)).resources == {"mem": GB}
    monkeypatch.setenv("LXM_CLUSTER", "cs")
    executor = ucl.UclGridEngine(xm_cluster.JobRequirements(ram=GB), walltime=10 * xm.Min, queue="gpu.q")
    assert executor.resources == {"tmem": GB, "h_vmem": GB}
    assert (executor.walltime, executor.queue, executor.cluster) == (600, "gpu.q", "cs")


def test_ucl_executor_stays_editable() -> None:
    executor = ucl.UclGridEngine(xm_cluster.JobRequirements(location="cs", ram=8 * GB))
    executor.resources["tmem"] = "16G"
    executor.resources.pop("h_vmem")
    executor.parallel_environments["smp"] = 4
    directives = executor.requirement_directives()
    assert ("-l", "tmem=16G") in directives and ("-pe", "smp", "4") in directives
    assert not any("h_vmem" in part for directive in directives for part in directive)


# ----- xm_cluster.config: 0.4.2's names -----
TOML = """\
project = "p"
[local.storage]
staging = ".cache/lxm"
[local.env]
BAR = "FOO"
[[clusters]]
name = "cs"
server = "beaker.example"
user = "me"
[clusters.storage]
staging = "/home/me/lxm3-staging"
[[clusters]]
name = "myriad"
server = "myriad.example"
[clusters.storage]
staging = "/scratch/me/lxm3-staging"
"""


def test_config_views(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LXM_CLUSTER", raising=False)
    config = xm_cluster.Config.from_string(TOML)
    assert config.default_cluster() == "cs"
    settings = config.cluster_settings()
    assert (settings.hostname, settings.user, settings.storage_root) == (
        "beaker.example",
        "me",
        "/home/me/lxm3-staging",
    )
    assert config.local_settings().storage_root == ".cache/lxm" and config.local_settings().env == {
        "BAR": "FOO"
    }
    monkeypatch.setenv("LXM_CLUSTER", "myriad")
    assert config.default_cluster() == "myriad" and config.cluster_settings().hostname == "myriad.example"
    path = tmp_path / "lxm.toml"
    path.write_text(TOML)
    assert config_lib.Config.from_file(str(path)).cluster_settings("cs").user == "me"
    monkeypatch.setenv("LXM_CONFIG", str(path))
    assert config_lib.default().project == "p"


def test_config_without_clusters_says_so() -> None:
    with pytest.raises(ValueError, match="clusters"):
        xm_cluster.Config.from_string("").default_cluster()


# ----- executors: 0.4.2's constructor forms -----
def test_executors_take_0_4_positional_order(caplog: pytest.LogCaptureFixture) -> None:
    requirements = xm_cluster.JobRequirements(ram=GB)
    singularity = xm_cluster.SingularityOptions({"/data": "/data"}, ["--cleanenv"])
    docker = xm_cluster.DockerOptions({"/data": "/data"}, ["--user=1:1"])
    local = xm_cluster.Local(requirements, singularity, docker)
    assert (local.singularity_options, local.docker_options) == (singularity, docker)
    with caplog.at_level(logging.WARNING, logger="lxm3"):
        slurm = xm_cluster.Slurm(
            requirements, {"constraint": "v100"}, 60, singularity, docker, "/logs", ["cuda"]
        )
        xm_cluster.Slurm(docker_options=docker)
    assert (slurm.walltime, slurm.log_directory, slurm.modules, slurm.resources) == (
        60,
        "/logs",
        ["cuda"],
        {"constraint": "v100"},
    )
    assert sum("ignores docker_options" in record.message for record in caplog.records) == 1
    engine = xm_cluster.GridEngine(
        requirements, {"tmem": "1G"}, {"smp": 2}, datetime.timedelta(minutes=5), "all.q", True
    )
    assert (engine.walltime, engine.queue, engine.reserved, engine.slots) == (300, "all.q", True, 2)
    with pytest.raises(TypeError):
        xm_cluster.Local(requirements, singularity, docker, 4)  # type: ignore[misc]  # max_parallel is keyword-only


# ----- Grid Engine: 0.4.2's rules -----
def test_grid_engine_explicit_resources_win() -> None:
    executor = xm_cluster.GridEngine(
        xm_cluster.JobRequirements(ram=4 * xm.GiB, gpu=1),
        resources={"h_vmem": "8G", "h_rt": "1:00:00", "gpu": 2},
        walltime=60,
    )
    directives = [" ".join(d) for d in executor.requirement_directives()]
    assert "-l h_vmem=8G" in directives and "-l h_vmem=4G" not in directives
    assert "-l h_rt=1:00:00" in directives and not any(d.startswith("-l h_rt=00") for d in directives)
    assert "-l gpu=2" in directives and "-l gpu=1" not in directives


@pytest.mark.parametrize(
    ("line", "skip", "dropped"),
    [
        ("-l h_vmem=2G", "h_vmem", True),  # 0.4's substring form
        ("-l h_vmem=2G", "-l h_vmem", True),
        ("-l h_rt=1:00:00", "h_vmem", False),
        ("-pe smp 2", "-pe", True),
        ("-l h_vmem=2G", "-l h", False),  # an option prefix matches whole words
    ],
)
def test_grid_engine_skip_directives(line: str, skip: str, dropped: bool) -> None:
    xm_cluster.GridEngine(skip_directives=[skip])  # accepted at construction
    assert _skipped(line, [skip]) is dropped


@pytest.mark.parametrize(
    ("kwargs", "reserved"),
    [
        ({"resources": {"gpu": 1}}, True),
        ({"parallel_environments": {"smp": 4}}, True),
        ({"requirements": xm.JobRequirements(gpu=1)}, True),
        ({"requirements": xm.JobRequirements(cpu=4)}, True),
        ({"resources": {"gpu": 1}, "reserved": False}, False),
        ({"resources": {"tmem": "1G"}}, None),
    ],
)
def test_grid_engine_reserves_parallel_and_gpu_jobs(kwargs: dict, reserved: bool | None) -> None:
    directives = xm_cluster.GridEngine(**kwargs).requirement_directives()
    expected = None if reserved is None else ("-R", "y" if reserved else "n")
    assert (expected in directives) if expected else not any(d[0] == "-R" for d in directives)


def test_grid_engine_extra_directive_lines_of_0_4() -> None:
    assert xm_cluster.GridEngine(extra_directives=["#$ -l ssd=1"]).extra_directives == ["-l ssd=1"]
    assert xm_cluster.Slurm(extra_directives=["#SBATCH --gres=gpu:1"]).extra_directives == ["--gres=gpu:1"]


# ----- --nv: every way of asking for GPUs -----
@pytest.mark.parametrize(
    ("executor", "gpu"),
    [
        (xm_cluster.Local(xm.JobRequirements(gpu=1)), True),
        (xm_cluster.Local(), False),
        (xm_cluster.GridEngine(resources={"gpu": "true"}), True),
        (xm_cluster.GridEngine(resources={"gpu": 0}), False),
        (xm_cluster.GridEngine(resources={"tmem": "1G"}), False),
        (xm_cluster.GridEngine(parallel_environments={"gpu": 2}), True),
        (xm_cluster.GridEngine(extra_directives=["-l gpu=1"]), True),
        (xm_cluster.Slurm(resources={"gres": "gpu:a100:1"}), True),
        (xm_cluster.Slurm(resources={"gres": "tmpfs:10G"}), False),
        (xm_cluster.Slurm(resources={"gpus-per-task": 1}), True),
        (xm_cluster.Slurm(extra_directives=["--gres=gpu:1"]), True),
        (xm_cluster.Slurm(extra_directives=["--gpus=2"]), True),
        (xm_cluster.Slurm(extra_directives=["--constraint=v100"]), False),
        (xm_cluster.Slurm(xm.JobRequirements(a100=1)), True),
    ],
)
def test_wants_gpu(executor: xm.Executor, gpu: bool) -> None:
    assert wants_gpu(executor) is gpu


# ----- xm_cluster names -----
def test_array_job_work_list() -> None:
    from lxm3.xm_cluster.executables import Entrypoint

    executable = xm_cluster.Command(name="x", entrypoint=Entrypoint("module", ("x",)))
    job = xm_cluster.ArrayJob(
        executable,
        xm_cluster.Local(),
        work_list=[{"args": {"seed": 1}, "env_vars": {"TASK": "1"}}, {"args": {"seed": 2}}],
    )
    assert job.num_tasks == 2 and job.env_vars == [{"TASK": "1"}, {}]
    with pytest.raises(ValueError, match="not both"):
        xm_cluster.ArrayJob(executable, xm_cluster.Local(), args=[{"seed": 3}], work_list=[{"args": {}}])


def test_get_current_experiment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LXM3_STORE", str(tmp_path / "store.sqlite3"))
    monkeypatch.setenv("LXM3_DRY_RUN", "1")
    with pytest.raises(RuntimeError, match="no experiment is open"):
        xm_cluster.get_current_experiment()
    with xm_cluster.create_experiment("current") as experiment:
        assert xm_cluster.get_current_experiment() is experiment
        with experiment.batch():
            pass
    with pytest.raises(RuntimeError):
        xm_cluster.get_current_experiment()


def test_0_4_modules_and_names_import() -> None:
    from lxm3.xm_cluster import artifacts, requirements

    assert requirements.JobRequirements is xm.JobRequirements
    assert callable(artifacts.get_local_artifact_store)
    for name in (
        "PythonContainer",
        "PDMProject",
        "PexBinary",
        "get_current_experiment",
        "SingularityOptions",
    ):
        assert hasattr(xm_cluster, name), name
