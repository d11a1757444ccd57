"""The Slurm executor: validated at construction, registered as a target, exported."""

from __future__ import annotations

import datetime
import pickle

import attrs
import pytest

from lxm3 import xm, xm_cluster
from lxm3.schedulers.slurm import SlurmScheduler
from lxm3.xm_cluster import targets
from lxm3.xm_cluster.config import ClusterConfig, Config, ConfigError
from lxm3.xm_cluster.executors.slurm import Slurm, SlurmSpec, format_memory, format_walltime


def test_exported_from_xm_cluster() -> None:
    assert xm_cluster.Slurm is Slurm
    assert isinstance(Slurm.Spec(), SlurmSpec)
    assert isinstance(Slurm.Spec(), xm.ExecutorSpec)


def test_defaults_and_positional_requirements() -> None:
    executor = Slurm(xm.JobRequirements(cpu=2))
    assert executor.requirements.cpu == 2
    assert executor.resources == {}
    assert executor.walltime is None
    assert executor.max_parallel is None
    assert executor.modules == [] and executor.extra_directives == [] and executor.skip_directives == []


def test_is_frozen_and_hashable_by_value() -> None:
    executor = Slurm(partition="gpu")
    with pytest.raises(AttributeError):
        executor.partition = "cpu"  # type: ignore[misc]
    assert Slurm(partition="gpu") == Slurm(partition="gpu")


def test_unknown_field_lists_every_valid_field() -> None:
    with pytest.raises(TypeError) as caught:
        Slurm(partiton="gpu")  # type: ignore[call-arg]
    message = str(caught.value)
    assert "partiton" in message
    for field in (
        "requirements", "resources", "walltime", "partition", "qos", "account", "exclusive",
        "log_directory", "modules", "extra_directives", "skip_directives", "singularity_options",
        "max_parallel", "cluster",
    ):  # fmt: skip
        assert field in message


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (90, 90),
        (datetime.timedelta(hours=2), 7200),
        ("01:30:00", 5400),
        ("2-00:00:01", 172801),
        ("45", 45),
        (3 * xm.Hr, 10800),
    ],
)
def test_walltime_forms(value: object, seconds: int) -> None:
    assert Slurm(walltime=value).walltime == seconds


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"walltime": -5}, ValueError, "walltime"),
        ({"walltime": "soon"}, ValueError, "walltime"),
        ({"walltime": "1:2:3:4"}, ValueError, "walltime"),
        ({"walltime": True}, TypeError, "walltime"),
        ({"walltime": [1]}, TypeError, "walltime"),
        ({"max_parallel": 0}, ValueError, "max_parallel"),
        ({"max_parallel": -1}, ValueError, "max_parallel"),
        ({"max_parallel": 2.5}, ValueError, "max_parallel"),
        ({"max_parallel": True}, ValueError, "max_parallel"),
        ({"partition": 3}, TypeError, "partition"),
        ({"partition": ""}, ValueError, "partition"),
        ({"partition": "gpu\n#SBATCH --x"}, ValueError, "partition"),
        ({"qos": " high"}, ValueError, "qos"),
        ({"account": ["a"]}, TypeError, "account"),
        ({"exclusive": "yes"}, TypeError, "exclusive"),
        ({"log_directory": 5}, TypeError, "log_directory"),
        ({"cluster": ""}, ValueError, "cluster"),
        ({"resources": ["gres"]}, TypeError, "resources"),
        ({"resources": {"bad key": "1"}}, ValueError, "resources"),
        ({"resources": {"gres": ["gpu"]}}, TypeError, "resources"),
        ({"resources": {"comment": "two\nlines"}}, ValueError, "resources"),
        ({"modules": [3]}, TypeError, "modules"),
        ({"modules": ["cuda\nrm -rf ~"]}, ValueError, "modules"),
        ({"extra_directives": ["constraint=v100"]}, ValueError, "extra_directives"),
        ({"extra_directives": ["--a=b\n--c"]}, ValueError, "extra_directives"),
        ({"skip_directives": ["mem size"]}, ValueError, "skip_directives"),
        ({"singularity_options": {"bind": {}}}, TypeError, "singularity_options"),
        ({"requirements": {"cpu": 2}}, TypeError, "requirements"),
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


def test_target_is_the_named_cluster_with_a_slurm_scheduler() -> None:
    config = Config(
        clusters=(
            ClusterConfig(name="first", server=None, staging="/tmp/lxm3-a"),
            ClusterConfig(name="second", server=None, staging="/tmp/lxm3-b"),
        ),
        source="/nowhere/lxm.toml",
    )
    try:
        default = targets.get_target(Slurm(), config)
        second = targets.get_target(Slurm(cluster="second"), config)
        assert isinstance(default.scheduler, SlurmScheduler)
        assert (default.name, default.staging) == ("first", "/tmp/lxm3-a")
        assert (second.name, second.staging) == ("second", "/tmp/lxm3-b")
        assert (
            targets.get_target(Slurm(partition="x"), config) is default
        )  # one target (connection) per cluster
        assert default.scheduler.name == "slurm"
        with pytest.raises(ConfigError, match="known clusters: first, second"):
            targets.get_target(Slurm(cluster="third"), config)
    finally:
        targets.close_all()


def test_pickle_and_evolve_round_trip() -> None:
    """The store keeps executors (pickled); reload re-targets them with attrs.evolve."""
    executor = Slurm(
        xm.JobRequirements(cpu=2, gpu=1),
        resources={"requeue": True, "constraint": "x"},
        walltime="1:00:00",
        modules=["a"],
        max_parallel=4,
    )
    assert pickle.loads(pickle.dumps(executor)) == executor
    moved = attrs.evolve(executor, cluster="other")
    assert moved.cluster == "other"
    assert (moved.resources, moved.walltime, moved.modules) == (executor.resources, 3600, ["a"])
