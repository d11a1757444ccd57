"""XManager's public `xm` names: present, shaped as XManager's, and refused clearly when unsupported."""

from __future__ import annotations

import os
import sys

import pytest

from lxm3 import xm
from lxm3.xm import executables, job_operators, packagables, testing, utils
from lxm3.xm_cluster.packaging import Packager

XMANAGER_PUBLIC_NAMES = [
    "job_operators",
    "AuxiliaryUnitJob",
    "AuxiliaryUnitRole",
    "Experiment",
    "ExperimentUnit",
    "ExperimentUnitError",
    "ExperimentUnitFailedError",
    "ExperimentUnitNotCompletedError",
    "ExperimentUnitRole",
    "ExperimentUnitStatus",
    "Importance",
    "LaunchedJob",
    "NotFoundError",
    "ReloadError",
    "WorkUnit",
    "WorkUnitCompletedAwaitable",
    "WorkUnitRole",
    "BazelBinary",
    "BazelContainer",
    "Binary",
    "BinaryDependency",
    "CommandList",
    "Container",
    "Dockerfile",
    "ModuleName",
    "PythonContainer",
    "Constraint",
    "Executable",
    "ExecutableSpec",
    "Executor",
    "ExecutorSpec",
    "get_args_for_all_jobs",
    "Job",
    "JobConfig",
    "JobGeneratorType",
    "JobGroup",
    "JobType",
    "merge_args",
    "Packageable",
    "SequentialArgs",
    "UserArgs",
    "ContextAnnotations",
    "MetadataContext",
    "bazel_binary",
    "bazel_container",
    "binary",
    "container",
    "dockerfile_container",
    "python_container",
    "GpuType",
    "InvalidTpuTopologyError",
    "JobRequirements",
    "ResourceDict",
    "ResourceQuantity",
    "ResourceType",
    "ServiceTier",
    "Topology",
    "TpuType",
    "run_in_asyncio_loop",
    "ShellSafeArg",
    "vCPU",
    "KiB",
    "MiB",
    "GiB",
    "TiB",
    "PiB",
    "KB",
    "MB",
    "GB",
    "TB",
    "PB",
]


def test_every_xmanager_public_name_exists() -> None:
    missing = [name for name in XMANAGER_PUBLIC_NAMES if not hasattr(xm, name)]
    assert missing == []
    assert xm.utils.resolve_path_relative_to_launcher is utils.resolve_path_relative_to_launcher


def test_executable_names_follow_the_path() -> None:
    assert xm.Container(image_path="/home/user/project/image.tar").name == "image_tar"
    assert xm.Container(image_path="docker://python:3.11").name == "python_3_11"
    assert xm.Binary(path="./binary").name == "binary"
    assert xm.BazelContainer(label="//container").name == "container"
    assert xm.BazelBinary(label=":binary").name == "_binary"
    spec = xm.PythonContainer(entrypoint=xm.ModuleName("module"), path="/home/user/project/")
    assert spec.name == "project"


def test_relative_paths_are_read_from_the_launch_script(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    script = os.path.join(str(tmp_path), "launch.py")
    open(script, "w").close()
    monkeypatch.setattr(sys, "argv", [script])
    utils.find_launch_script_path.cache_clear()
    try:
        root = os.path.realpath(str(tmp_path))
        assert utils.resolve_path_relative_to_launcher("proj") == os.path.join(root, "proj")
        assert utils.resolve_path_relative_to_launcher("/abs") == "/abs"
        dockerfile = xm.Dockerfile()
        assert (dockerfile.path, dockerfile.dockerfile) == (root, os.path.join(root, "Dockerfile"))
        spec = xm.PythonContainer(entrypoint=xm.CommandList(["python main.py"]), path="..")
        assert spec.path == os.path.dirname(root)
    finally:
        utils.find_launch_script_path.cache_clear()


def test_packagables_build_packageables() -> None:
    spec = testing.TestExecutor.Spec()
    assert packagables.bazel_binary(spec, label="label") == xm.Packageable(
        executable_spec=xm.BazelBinary(label="label"), executor_spec=spec, args=[], env_vars={}
    )
    with_args = xm.bazel_binary(spec, label="label", args=["-f"], env_vars={"KEY": "value"})
    assert with_args.args.to_list() == ["-f"] and with_args.env_vars == {"KEY": "value"}
    assert xm.container(spec, "docker://busybox").executable_spec == xm.Container("docker://busybox")
    python = xm.python_container(spec, xm.ModuleName("m"), path="/p", args={"k": 1})
    assert isinstance(python.executable_spec, executables.PythonContainer) and python.args.to_list() == [
        "--k=1"
    ]


def test_job_operators_flatten_and_group_constraints() -> None:
    class SameHost(xm.Constraint):
        pass

    def job(name: str) -> xm.Job:
        return xm.Job(testing.TestExecutable(), testing.TestExecutor(), name=name)

    a, b, c = job("a"), job("b"), job("c")
    inner_constraint, outer_constraint = SameHost(), SameHost()
    group = xm.JobGroup(
        a=a, inner=xm.JobGroup(b=b, c=c, constraints=[inner_constraint]), constraints=[outer_constraint]
    )
    assert job_operators.flatten_jobs(group) == [a, b, c]
    assert job_operators.collect_jobs_by_filter(group, lambda j: j.name != "b") == [a, c]
    cliques = job_operators.aggregate_constraint_cliques(group)
    assert [(k.constraint, k.jobs) for k in cliques] == [
        (outer_constraint, [a, b, c]),
        (inner_constraint, [b, c]),
    ]


def test_arg_escaper() -> None:
    assert utils.ARG_ESCAPER(1.0) == "1.0"
    assert utils.ARG_ESCAPER("Jonny Droptable") == "'Jonny Droptable'"
    assert utils.ARG_ESCAPER(xm.ServiceTier.BATCH) == "BATCH"
    assert utils.ARG_ESCAPER(xm.ShellSafeArg("$HOME")) == "$HOME"


@pytest.mark.parametrize(
    "spec",
    [xm.BazelBinary(label="//x:y"), xm.BazelContainer(label="//x:img"), xm.Binary(path="/bin/true")],
    ids=lambda spec: type(spec).__name__,
)
def test_unsupported_specs_are_refused_when_packaged(spec: xm.ExecutableSpec) -> None:
    with pytest.raises(TypeError, match=rf"xm\.{type(spec).__name__} is not supported by this backend"):
        Packager().package(xm.Packageable(spec, executor_spec=testing.TestExecutor.Spec()))
