"""What the Slurm and Grid Engine executors share: validation at construction, value semantics,
pickling for the store, and the target each one selects. Each runs once per executor; what
only one has (its options, directives, memory rules) is in test_slurm_executor.py and
test_gridengine_executor.py.
"""

from __future__ import annotations

import datetime
import pickle
from typing import Any

import attrs
import pytest

from lxm3 import xm, xm_cluster
from lxm3.xm_cluster import targets
from lxm3.xm_cluster.config import ClusterConfig, Config, ConfigError
from lxm3.xm_cluster.executors import GridEngineSpec
from lxm3.xm_cluster.executors.slurm import SlurmSpec
from tests.clusters import KIND_PARAMS, Kind

pytestmark = pytest.mark.parametrize("kind", KIND_PARAMS)

SPEC_CLASS = {"slurm": SlurmSpec, "sge": GridEngineSpec}
#: A field each executor has that selects where jobs go, with two values it accepts.
PLACE = {"slurm": ("partition", "gpu", "cpu"), "sge": ("queue", "all.q", "gpu.q")}
FIELDS = {
    "slurm": (
        "requirements", "resources", "walltime", "partition", "qos", "account", "exclusive",
        "log_directory", "modules", "extra_directives", "skip_directives", "singularity_options",
        "max_parallel", "cluster",
    ),
    "sge": (
        "requirements", "resources", "parallel_environments", "walltime", "queue", "reserved",
        "log_directory", "merge_output", "shell", "project", "account", "modules", "max_parallel_tasks",
        "extra_directives", "skip_directives", "singularity_options", "parallel_environment",
        "memory_resources", "gpu_resource", "cluster",
    ),
}  # fmt: skip
#: Resources each executor passes through (as its scheduler spells them).
RESOURCES = {"slurm": {"requeue": True, "constraint": "x"}, "sge": {"scratch": "1G"}}


def test_exported_from_xm_cluster(kind: Kind) -> None:
    assert getattr(xm_cluster, kind.executor_class.__name__) is kind.executor_class
    assert isinstance(kind.spec, SPEC_CLASS[kind.name])
    assert isinstance(kind.spec, xm.ExecutorSpec)


def test_is_frozen_and_compares_by_value(kind: Kind) -> None:
    field, value, other = PLACE[kind.name]
    executor = kind.executor(**{field: value})
    with pytest.raises(AttributeError):
        setattr(executor, field, other)
    assert kind.executor(**{field: value}) == kind.executor(**{field: value})


def test_unknown_field_lists_every_valid_field(kind: Kind) -> None:
    with pytest.raises(TypeError) as caught:
        kind.executor(cluter="a")
    message = str(caught.value)
    assert "cluter" in message
    for field in FIELDS[kind.name]:
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
def test_walltime_forms(kind: Kind, value: object, seconds: int) -> None:
    assert kind.executor(walltime=value).walltime == seconds


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
        ({"cluster": ""}, ValueError, "cluster"),
        ({"log_directory": 5}, TypeError, "log_directory"),
        ({"resources": ["gres"]}, TypeError, "resources"),
        ({"resources": {"bad key": "1"}}, ValueError, "resources"),
        ({"resources": {"gres": ["gpu"]}}, TypeError, "resources"),
        ({"modules": [3]}, TypeError, "modules"),
        ({"modules": ["cuda\nrm -rf ~"]}, ValueError, "modules"),
        ({"singularity_options": {"bind": {}}}, TypeError, "singularity_options"),
        ({"requirements": {"cpu": 2}}, TypeError, "requirements"),
    ],
)
def test_bad_values_fail_at_construction_naming_the_field(
    kind: Kind, kwargs: dict[str, Any], error: type, words: str
) -> None:
    if "max_parallel" in kwargs:  # spelled as this executor spells it
        kwargs = {kind.throttle_field: kwargs["max_parallel"]}
        words = kind.throttle_field
    with pytest.raises(error, match=words):
        kind.executor(**kwargs)


def test_target_is_the_named_cluster_with_its_scheduler(kind: Kind) -> None:
    config = Config(
        clusters=(
            ClusterConfig(name="first", server=None, staging="/tmp/lxm3-a"),
            ClusterConfig(name="second", server=None, staging="/tmp/lxm3-b"),
        ),
        source="/nowhere/lxm.toml",
    )
    field, value, _ = PLACE[kind.name]
    try:
        default = targets.get_target(kind.executor(), config)
        second = targets.get_target(kind.executor(cluster="second"), config)
        assert isinstance(default.scheduler, kind.scheduler_class)
        assert default.scheduler.name == kind.name
        assert (default.name, default.staging) == ("first", "/tmp/lxm3-a")
        assert (second.name, second.staging) == ("second", "/tmp/lxm3-b")
        # One target (connection) per cluster, whatever else the executor asks for.
        assert targets.get_target(kind.executor(**{field: value}), config) is default
        with pytest.raises(ConfigError, match="known clusters: first, second"):
            targets.get_target(kind.executor(cluster="third"), config)
    finally:
        targets.close_all()


def test_pickle_and_evolve_round_trip(kind: Kind) -> None:
    """The store keeps executors (pickled); reload re-targets them with attrs.evolve."""
    executor = kind.executor(
        4,
        requirements=xm.JobRequirements(cpu=2, gpu=1),
        resources=RESOURCES[kind.name],
        walltime="1:00:00",
        modules=["a"],
    )
    assert pickle.loads(pickle.dumps(executor)) == executor
    moved = attrs.evolve(executor, cluster="other")
    assert moved.cluster == "other"
    assert (moved.resources, moved.walltime, moved.modules) == (executor.resources, 3600, ["a"])
    assert getattr(moved, kind.throttle_field) == 4
