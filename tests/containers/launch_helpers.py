"""Launching a one-work-unit experiment from a test, as a launch script would."""

from __future__ import annotations

from typing import Any

from lxm3 import xm, xm_cluster
from lxm3.xm_cluster.config import Config, load_config_file


def launch(
    spec: Any,
    executor: Any,
    args: list[Any],
    env_vars: list[dict[str, str]],
    *,
    config: Config | None = None,
    config_path: Any = None,
    wait: bool = True,
) -> Any:
    """Packages `spec` for `executor`, adds one ArrayJob and (by default) waits for it."""
    if config is None and config_path is not None:
        config = load_config_file(config_path)
    with xm_cluster.create_experiment("containers-test", config=config) as experiment:
        [executable] = experiment.package([xm.Packageable(spec, executor_spec=executor.Spec())])
        experiment.add(
            xm_cluster.ArrayJob(executable=executable, executor=executor, args=args, env_vars=env_vars)
        )
        units = list(experiment.work_units.values())
        if wait:
            for unit in units:
                unit.wait_until_complete()
    return experiment
