"""The Slurm executor's own options and directives (what it shares with Grid Engine: test_cluster_executors.py)."""

from __future__ import annotations

import pytest

from lxm3 import xm
from lxm3.xm_cluster.executors.slurm import Slurm, format_memory, format_walltime


def test_defaults_and_positional_requirements() -> None:
    executor = Slurm(xm.JobRequirements(cpu=2))
    assert executor.requirements.cpu == 2
    assert executor.resources == {}
    assert executor.walltime is None
    assert executor.max_parallel is None
    assert executor.modules == [] and executor.extra_directives == [] and executor.skip_directives == []


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"partition": 3}, TypeError, "partition"),
        ({"partition": ""}, ValueError, "partition"),
        ({"partition": "gpu\n#SBATCH --x"}, ValueError, "partition"),
        ({"qos": " high"}, ValueError, "qos"),
        ({"account": ["a"]}, TypeError, "account"),
        ({"exclusive": "yes"}, TypeError, "exclusive"),
        ({"resources": {"comment": "two\nlines"}}, ValueError, "resources"),
        ({"extra_directives": ["constraint=v100"]}, ValueError, "extra_directives"),
        ({"extra_directives": ["--a=b\n--c"]}, ValueError, "extra_directives"),
        ({"skip_directives": ["mem size"]}, ValueError, "skip_directives"),
        ({"requirements": xm.JobRequirements(tpu_v3=8)}, ValueError, "TPU"),
    ],
)
def test_bad_values_fail_at_construction_naming_the_field(kwargs: dict, error: type, words: str) -> None:
    with pytest.raises(error, match=words):
        Slurm(**kwargs)


def test_resources_normalise_option_names_and_flags() -> None:
    executor = Slurm(resources={"--constraint": "v100", "requeue": True, "hold": False, "mem-per-gpu": 8000})
    assert executor.resources == {"constraint": "v100", "requeue": None, "mem-per-gpu": "8000"}


def test_a_single_string_is_one_module_or_directive() -> None:
    executor = Slurm(modules="cuda/12.1", extra_directives="--mail-type=END")
    assert executor.modules == ["cuda/12.1"]
    assert executor.extra_directives == ["--mail-type=END"]


def test_requirement_directives() -> None:
    executor = Slurm(
        xm.JobRequirements(cpu=4, ram=8 * xm.GiB, v100=2),
        walltime="12:00:00",
        partition="gpu",
        qos="normal",
        account="lab",
        exclusive=True,
    )
    assert executor.requirement_directives() == [
        ("cpus-per-task", "4"),
        ("mem", "8G"),
        ("gres", "gpu:v100:2"),
        ("time", "12:00:00"),
        ("partition", "gpu"),
        ("qos", "normal"),
        ("account", "lab"),
        ("exclusive", None),
    ]


def test_formatters() -> None:
    assert format_memory(512 * xm.MiB) == "512M"
    assert format_memory(3 * xm.GiB) == "3G"
    assert format_memory(1.5 * xm.GiB) == "1536M"
    assert format_walltime(59) == "00:00:59"
    assert format_walltime(86400 + 3661) == "1-01:01:01"
