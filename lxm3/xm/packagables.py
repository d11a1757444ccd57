"""XManager's shorthands for Packageables: `xm.python_container(spec, ...)` and friends.

Each builds the executable spec of the same name and pairs it with the
executor spec and baked-in args/env, for `experiment.package([...])`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lxm3.xm import executables
from lxm3.xm.args import UserArgs
from lxm3.xm.job_blocks import ExecutorSpec, Packageable


def _packageable(
    executor_spec: ExecutorSpec,
    spec: Any,
    args: UserArgs | None,
    env_vars: Mapping[str, Any] | None,
) -> Packageable:
    return Packageable(executable_spec=spec, executor_spec=executor_spec, args=args, env_vars=env_vars)  # type: ignore[arg-type]


def binary(
    executor_spec: ExecutorSpec,
    path: str,
    dependencies: Sequence[executables.BinaryDependency] = (),
    *,
    args: UserArgs | None = None,
    env_vars: Mapping[str, Any] | None = None,
) -> Packageable:
    """A prebuilt binary."""
    return _packageable(
        executor_spec, executables.Binary(path=path, dependencies=dependencies), args, env_vars
    )


def bazel_binary(
    executor_spec: ExecutorSpec,
    label: str,
    dependencies: Sequence[executables.BinaryDependency] = (),
    bazel_args: Sequence[str] = (),
    *,
    args: UserArgs | None = None,
    env_vars: Mapping[str, Any] | None = None,
) -> Packageable:
    """A binary built with Bazel (not supported by lxm3's backend)."""
    spec = executables.BazelBinary(label=label, dependencies=dependencies, bazel_args=bazel_args)
    return _packageable(executor_spec, spec, args, env_vars)


def container(
    executor_spec: ExecutorSpec,
    image_path: str,
    *,
    args: UserArgs | None = None,
    env_vars: Mapping[str, Any] | None = None,
) -> Packageable:
    """A prebuilt container image."""
    return _packageable(executor_spec, executables.Container(image_path=image_path), args, env_vars)


def bazel_container(
    executor_spec: ExecutorSpec,
    label: str,
    bazel_args: Sequence[str] = (),
    *,
    args: UserArgs | None = None,
    env_vars: Mapping[str, Any] | None = None,
) -> Packageable:
    """An image built with Bazel (not supported by lxm3's backend)."""
    spec = executables.BazelContainer(label=label, bazel_args=bazel_args)
    return _packageable(executor_spec, spec, args, env_vars)


def python_container(
    executor_spec: ExecutorSpec,
    entrypoint: executables.ModuleName | executables.CommandList,
    path: str = ".",
    base_image: str | None = None,
    docker_instructions: list[str] | None = None,
    use_deep_module: bool = False,
    *,
    args: UserArgs | None = None,
    env_vars: Mapping[str, Any] | None = None,
) -> Packageable:
    """A Python project run in a container built from `base_image`."""
    spec = executables.PythonContainer(
        entrypoint=entrypoint,
        path=path,
        base_image=base_image,
        docker_instructions=docker_instructions,
        use_deep_module=use_deep_module,
    )
    return _packageable(executor_spec, spec, args, env_vars)


def dockerfile_container(
    executor_spec: ExecutorSpec,
    path: str = ".",
    dockerfile: str | None = None,
    *,
    args: UserArgs | None = None,
    env_vars: Mapping[str, Any] | None = None,
) -> Packageable:
    """An image built from a Dockerfile."""
    spec = executables.Dockerfile(path=path, dockerfile=dockerfile)  # type: ignore[arg-type]
    return _packageable(executor_spec, spec, args, env_vars)
