"""The Grid Engine executor's own options, qsub mapping and memory rules (shared checks: test_cluster_executors.py)."""

from __future__ import annotations

import pytest

from lxm3 import xm
from lxm3.xm_cluster.executors.gridengine import GridEngine, format_memory


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


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
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
        ({"extra_directives": ["l ssd=1"]}, ValueError, "extra_directives"),
        ({"extra_directives": ["-l a=1\n-l b=2"]}, ValueError, "extra_directives"),
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
