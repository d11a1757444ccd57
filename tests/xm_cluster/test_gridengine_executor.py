"""The Grid Engine executor: validated at construction, mapped to qsub options, registered, exported."""

from __future__ import annotations

import datetime

import pytest

from lxm3 import xm, xm_cluster
from lxm3.schedulers.sge import GridEngineScheduler
from lxm3.xm_cluster import targets
from lxm3.xm_cluster.config import ClusterConfig, Config, ConfigError
from lxm3.xm_cluster.executors import GridEngineSpec
from lxm3.xm_cluster.executors.gridengine import GridEngine, format_memory


def test_exported_from_xm_cluster() -> None:
    assert xm_cluster.GridEngine is GridEngine
    assert isinstance(GridEngine.Spec(), GridEngineSpec)
    assert isinstance(GridEngine.Spec(), xm.ExecutorSpec)


def test_defaults_and_positional_requirements() -> None:
    executor = GridEngine(xm.JobRequirements(cpu=2))
    assert executor.requirements.cpu == 2
    assert executor.resources == {} and executor.parallel_environments == {}
    assert (executor.walltime, executor.queue, executor.reserved, executor.log_directory) == (
        None,
        None,
        None,
        None,
    )
    assert executor.merge_output is True and executor.shell == "/bin/bash"
    assert executor.modules == [] and executor.extra_directives == [] and executor.skip_directives == []
    assert (executor.parallel_environment, executor.memory_resources, executor.gpu_resource) == (
        "smp",
        ["h_vmem"],
        "gpu",
    )
    assert executor.slots == 2


def test_is_frozen_and_compares_by_value() -> None:
    executor = GridEngine(queue="all.q")
    with pytest.raises(AttributeError):
        executor.queue = "gpu.q"  # type: ignore[misc]
    assert GridEngine(queue="all.q") == GridEngine(queue="all.q")


def test_unknown_field_lists_every_valid_field() -> None:
    with pytest.raises(TypeError) as caught:
        GridEngine(queu="all.q")  # type: ignore[call-arg]
    message = str(caught.value)
    assert "queu" in message
    for field in (
        "requirements", "resources", "parallel_environments", "walltime", "queue", "reserved",
        "log_directory", "merge_output", "shell", "project", "account", "modules", "max_parallel_tasks",
        "extra_directives", "skip_directives", "singularity_options", "parallel_environment",
        "memory_resources", "gpu_resource", "cluster",
    ):  # fmt: skip
        assert field in message


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (90, 90),
        (datetime.timedelta(hours=2), 7200),
        ("01:30:00", 5400),
        ("2-00:00:01", 172801),
        (3 * xm.Hr, 10800),
    ],
)
def test_walltime_forms(value: object, seconds: int) -> None:
    assert GridEngine(walltime=value).walltime == seconds


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"walltime": -5}, ValueError, "walltime"),
        ({"walltime": "soon"}, ValueError, "walltime"),
        ({"walltime": True}, TypeError, "walltime"),
        ({"max_parallel_tasks": 0}, ValueError, "max_parallel_tasks"),
        ({"max_parallel_tasks": 2.5}, ValueError, "max_parallel_tasks"),
        ({"max_parallel_tasks": True}, ValueError, "max_parallel_tasks"),
        ({"queue": 3}, TypeError, "queue"),
        ({"queue": ""}, ValueError, "queue"),
        ({"queue": " all.q"}, ValueError, "queue"),
        ({"queue": "all.q\n#$ -l x=1"}, ValueError, "queue"),
        ({"queue": "it's"}, ValueError, "queue"),
        ({"queue": "a#b"}, ValueError, "queue"),
        ({"shell": '/bin/"bash"'}, ValueError, "shell"),
        ({"project": "my project"}, ValueError, "project"),
        ({"account": "a:b"}, ValueError, "account"),
        ({"account": "ünï"}, ValueError, "account"),
        ({"account": "a*"}, ValueError, "account"),
        ({"reserved": "y"}, TypeError, "reserved"),
        ({"merge_output": 1}, TypeError, "merge_output"),
        ({"log_directory": "relative/logs"}, ValueError, "log_directory"),
        ({"log_directory": "/logs\nx"}, ValueError, "log_directory"),
        ({"cluster": ""}, ValueError, "cluster"),
        ({"resources": ["h_vmem"]}, TypeError, "resources"),
        ({"resources": {"bad key": "1"}}, ValueError, "resources"),
        ({"resources": {"scratch": ["1G"]}}, TypeError, "resources"),
        ({"resources": {"scratch": "1 G"}}, ValueError, "resources"),
        ({"resources": {"scratch": "1G#x"}}, ValueError, "resources"),
        ({"parallel_environments": {"smp": -1}}, ValueError, "parallel_environments"),
        ({"parallel_environments": {"smp": 2, "mpi": 4}}, ValueError, "one PE"),
        ({"parallel_environments": {"bad pe": 2}}, ValueError, "parallel_environments"),
        ({"parallel_environments": ["smp"]}, TypeError, "parallel_environments"),
        ({"parallel_environment": "s m p"}, ValueError, "parallel_environment"),
        ({"memory_resources": ["h vmem"]}, ValueError, "memory_resources"),
        ({"memory_resources": 3}, TypeError, "memory_resources"),
        ({"gpu_resource": ""}, ValueError, "gpu_resource"),
        ({"modules": [3]}, TypeError, "modules"),
        ({"modules": ["cuda\nrm -rf ~"]}, ValueError, "modules"),
        ({"extra_directives": ["l ssd=1"]}, ValueError, "extra_directives"),
        ({"extra_directives": ["-l a=1\n-l b=2"]}, ValueError, "extra_directives"),
        ({"singularity_options": {"bind": {}}}, TypeError, "singularity_options"),
        ({"requirements": {"cpu": 2}}, TypeError, "requirements"),
        ({"requirements": xm.JobRequirements(tpu_v3=8)}, ValueError, "tpu_v3"),
        ({"requirements": xm.JobRequirements(a100=1)}, ValueError, "GPU model"),
        ({"requirements": xm.JobRequirements(disk=xm.GiB)}, ValueError, "ephemeral_storage"),
        ({"requirements": xm.JobRequirements(location="zone-a")}, ValueError, "location"),
        ({"requirements": xm.JobRequirements(replicas=2)}, ValueError, "replicas"),
    ],
)
def test_bad_values_fail_at_construction_naming_the_field(kwargs: dict, error: type, words: str) -> None:
    with pytest.raises(error, match=words):
        GridEngine(**kwargs)


def test_resources_may_set_what_lxm3_does_not_derive() -> None:
    executor = GridEngine(resources={"h_vmem": "2G", "h_rt": 60, "scratch": 1.5})
    # Values stay as given (lxm3 0.4 scripts compare and edit them); they are rendered as text.
    assert executor.resources == {"h_vmem": "2G", "h_rt": 60, "scratch": 1.5}


def test_a_single_string_is_one_item() -> None:
    executor = GridEngine(modules="cuda/12.1", extra_directives="-m ea", memory_resources="mem_free")
    assert executor.modules == ["cuda/12.1"]
    assert executor.extra_directives == ["-m ea"]
    assert executor.memory_resources == ["mem_free"]


def test_requirement_directives() -> None:
    executor = GridEngine(
        xm.JobRequirements(cpu=4, ram=8 * xm.GiB, gpu=2),
        walltime="12:00:00",
        queue="gpu.q",
        reserved=False,
        project="lab",
        account="grant-7",
        resources={"scratch": "10G"},
    )
    assert executor.requirement_directives() == [
        ("-S", "/bin/bash"),
        ("-q", "gpu.q"),
        ("-pe", "smp", "4"),
        ("-l", "h_rt=12:00:00"),
        ("-l", "h_vmem=2G"),  # per slot: 4 x 2G = 8 GiB
        ("-l", "gpu=2"),
        ("-l", "scratch=10G"),
        ("-R", "n"),
        ("-P", "lab"),
        ("-A", "grant-7"),
    ]


def test_memory_is_divided_among_slots_of_the_pe() -> None:
    executor = GridEngine(
        xm.JobRequirements(cpu=1.5, memory=3 * xm.GiB),
        parallel_environment="threads",
        memory_resources=["h_vmem", "mem_free"],
        gpu_resource="gpus",
        shell=None,
    )
    assert executor.requirement_directives() == [
        ("-pe", "threads", "2"),
        ("-l", "h_vmem=1536M"),
        ("-l", "mem_free=1536M"),
        ("-R", "y"),
    ]
    mpi = GridEngine(xm.JobRequirements(ram=16 * xm.GiB, gpu=1), parallel_environments={"mpi": 8}, shell=None)
    assert mpi.requirement_directives() == [
        ("-pe", "mpi", "8"),
        ("-l", "h_vmem=2G"),
        ("-l", "gpu=1"),
        ("-R", "y"),
    ]
    assert (
        GridEngine(
            xm.JobRequirements(cpu=1, ram=xm.GiB), memory_resources=[], shell=None
        ).requirement_directives()
        == []
    )
    assert GridEngine(xm.JobRequirements(cpu=0, memory=0), shell=None).requirement_directives() == []


def test_format_memory() -> None:
    assert format_memory(512 * xm.MiB) == "512M"
    assert format_memory(3 * xm.GiB) == "3G"
    assert format_memory(2 * xm.GB) == "1908M"
    assert format_memory(1) == "1M"


def test_target_is_the_named_cluster_with_a_grid_engine_scheduler() -> None:
    config = Config(
        clusters=(
            ClusterConfig(name="first", server=None, staging="/tmp/lxm3-a"),
            ClusterConfig(name="second", server=None, staging="/tmp/lxm3-b"),
        ),
        source="/nowhere/lxm.toml",
    )
    try:
        default = targets.get_target(GridEngine(), config)
        second = targets.get_target(GridEngine(cluster="second"), config)
        assert isinstance(default.scheduler, GridEngineScheduler)
        assert default.scheduler.name == "sge"
        assert (default.name, default.staging) == ("first", "/tmp/lxm3-a")
        assert (second.name, second.staging) == ("second", "/tmp/lxm3-b")
        assert (
            targets.get_target(GridEngine(queue="x"), config) is default
        )  # one target (connection) per cluster
        with pytest.raises(ConfigError, match="known clusters: first, second"):
            targets.get_target(GridEngine(cluster="third"), config)
    finally:
        targets.close_all()
