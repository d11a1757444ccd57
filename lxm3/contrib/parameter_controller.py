"""Parameter controllers: a launch coroutine that runs as an auxiliary unit on the cluster.

    from lxm3.contrib import parameter_controller

    @parameter_controller.controller(executor=xm_cluster.Slurm(...), package_path=".")
    async def run_pipeline(experiment: xm.Experiment) -> None:
        pre = await experiment.add(preprocess_job)
        await pre.wait_until_complete()
        ...

    experiment.add(run_pipeline())

On the workstation, `experiment.add(run_pipeline())` packages the launcher
(with `package_path`) and submits ONE auxiliary unit to `executor`; the
launcher can then exit. That unit re-runs the launcher on the cluster, where
`experiment.add(run_pipeline())` runs the coroutine itself: it adds units with
the cluster's own scheduler commands, waits for them and decides what comes
next, with no workstation attached. See docs/controller.md.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

import attrs

from lxm3 import xm
from lxm3.xm_cluster.containers.specs import SingularityContainer
from lxm3.xm_cluster.controller.launch import ControllerOptions, launch_controller
from lxm3.xm_cluster.controller.runtime import CALL_ATTR

ControllerFunction = Callable[..., Coroutine[Any, Any, Any]]


@attrs.frozen
class ControllerCall:
    """A decorated coroutine with the arguments it was called with, and its options."""

    function: ControllerFunction
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    options: ControllerOptions


def controller(
    *,
    executor: Any,
    controller_name: str = "__controller__",
    controller_env_vars: Mapping[str, str] | None = None,
    controller_args: Mapping[str, Any] | None = None,
    package_path: str = ".",
    controller_image: str | SingularityContainer | None = None,
) -> Callable[[ControllerFunction], Callable[..., xm.AuxiliaryUnitJob]]:
    """Makes `async def f(experiment, ...)` a parameter controller running on `executor`.

    `controller_args` become flags of the launcher as re-run in the controller
    (`{"n": 3}` -> `--n=3`, after the launch's own flags); `controller_env_vars`
    are set in its environment; `package_path` (relative to the launcher) is
    what is packaged with it. `controller_image` (an image path as
    `SingularityContainer` takes, or a `SingularityContainer`, whose image is
    used) runs the controller with that image's `python3` through
    Singularity/Apptainer, with the executor's `singularity_options`, instead
    of the cluster's own `python3`.
    """
    image = (
        controller_image.image_path
        if isinstance(controller_image, SingularityContainer)
        else controller_image
    )
    if image is not None and not (isinstance(image, str) and image.strip()):
        raise TypeError(
            f"controller_image must be an image path or an xm_cluster.SingularityContainer, got {controller_image!r}"
        )
    options = ControllerOptions(
        executor=executor,
        controller_name=controller_name,
        controller_args=dict(controller_args or {}),
        controller_env_vars=dict(controller_env_vars or {}),
        package_path=package_path,
        controller_image=image,
    )

    def decorator(function: ControllerFunction) -> Callable[..., xm.AuxiliaryUnitJob]:
        if not inspect.iscoroutinefunction(function):
            raise TypeError(
                f"parameter_controller.controller decorates `async def` functions, got {function!r}"
            )

        @functools.wraps(function)
        def make(*args: Any, **kwargs: Any) -> xm.AuxiliaryUnitJob:
            call = ControllerCall(function, args, kwargs, options)

            async def controller_unit(unit: xm.ExperimentUnit, **_: Any) -> None:
                await launch_controller(unit, options)

            setattr(controller_unit, CALL_ATTR, call)
            return xm.AuxiliaryUnitJob(controller_unit, termination_delay_secs=0)

        return make

    return decorator


__all__ = ["ControllerCall", "controller"]
