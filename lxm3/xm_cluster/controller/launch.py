"""Workstation side: turn `experiment.add(run_pipeline())` into ONE auxiliary unit.

The controller unit's code artifact is the launcher's package (`package_path`)
plus `lxm3_controller_boot.py` and `lxm3_controller.json` (the spec: experiment
id, launcher, flags, the config, the journal dir and the digest manifest — the
pickled executables this launch packaged, in order). Its job ships, as
content-addressed files, the lxm3 bundle and every artifact of the manifest,
so the controller finds them in the staging root and never builds.

On a cluster the unit is submitted like any job (same staging, batcher and
store record). On Local it is a detached background process (its own session,
stdin closed, logs in files): it survives the launcher and the terminal; the
store records it as the owner process of the job, as `lxm3 status` and `lxm3
cancel` expect of Local jobs.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import pickle
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import attrs

from lxm3 import xm
from lxm3.files import place_atomically
from lxm3.packaging.archive import iter_tree, write_zip
from lxm3.packaging.artifact import Artifact, ArtifactCache
from lxm3.schedulers.base import ArrayChunk, SubmittedJob
from lxm3.store.db import process_start_time
from lxm3.xm_cluster import deploying, staging, targets
from lxm3.xm_cluster.controller import ARGS_KEY, journal
from lxm3.xm_cluster.controller.bundle import build_bundle
from lxm3.xm_cluster.executables import Command, ContainerImage, Entrypoint
from lxm3.xm_cluster.paths import resolve_relative_to_launcher

log = logging.getLogger(__name__)

BOOT_NAME = "lxm3_controller_boot.py"
SPEC_NAME = "lxm3_controller.json"
CONFIG_NAME = "lxm3_controller.toml"
_LAUNCHER_DIR_NAME = "lxm3_controller_launcher"


@attrs.frozen
class ControllerOptions:
    """What `@parameter_controller.controller(...)` was given."""

    executor: Any
    controller_name: str = "__controller__"
    controller_args: dict[str, Any] = attrs.field(factory=dict)
    controller_env_vars: dict[str, str] = attrs.field(factory=dict)
    package_path: str = "."
    #: A Singularity/Apptainer image whose python3 runs the controller (None: the host's).
    controller_image: str | None = None


def controller_container(options: ControllerOptions) -> ContainerImage | None:
    """The controller's image, deployable as any SingularityContainer's (a local .sif by digest)."""
    if options.controller_image is None:
        return None
    from lxm3.xm_cluster.containers.builders import container_image
    from lxm3.xm_cluster.containers.specs import parse_image_path

    try:
        source = parse_image_path(options.controller_image)
    except ValueError as error:
        raise xm.ExperimentUnitError(f"parameter controller: controller_image: {error}") from None
    return container_image(source, ArtifactCache())


def _flag_argv(args: dict[str, Any]) -> list[str]:
    argv = []
    for key, value in args.items():
        if isinstance(value, bool):
            argv.append(f"--{key}" if value else f"--no{key}")
        else:
            argv.append(f"--{key}={value}")
    return argv


def _launcher_argv(controller_args: dict[str, Any]) -> list[str]:
    """The launch's own flags (but its config path, which is the workstation's) + controller_args."""
    argv = []
    skip = False
    for arg in sys.argv[1:]:
        if skip:
            skip = False
            continue
        if arg == "--lxm_config":
            skip = True
            continue
        if arg.startswith("--lxm_config="):
            continue
        argv.append(arg)
    return argv + _flag_argv(controller_args)


def manifest_artifacts(executables: list[Any]) -> list[Artifact]:
    """The content-addressed files (code, container images) the manifest's executables need."""
    found: dict[str, Artifact] = {}
    for executable in executables:
        if not isinstance(executable, Command):
            continue
        if executable.artifact is not None:
            found[executable.artifact.file_name] = executable.artifact
        image = executable.container
        if image is not None and image.artifact is not None:
            found[image.artifact.file_name] = image.artifact
    return list(found.values())


def build_controller_package(
    options: ControllerOptions, spec: dict[str, Any], config_source: str | None
) -> tuple[Artifact, str]:
    """The controller's code artifact and the launcher's path inside it."""
    root = Path(resolve_relative_to_launcher(options.package_path))
    if not root.is_dir():
        raise xm.ExperimentUnitError(f"parameter controller: package_path {root} is not a directory")
    launcher = Path(str(os.environ.get("LXM3_LAUNCHER") or getattr(sys.modules["__main__"], "__file__", "")))
    files = list(iter_tree(root))
    try:
        launcher_rel = launcher.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        launcher_rel = f"{_LAUNCHER_DIR_NAME}/{launcher.name}"
        files.append((launcher, launcher_rel))
    files.append((Path(__file__).with_name("boot.py"), BOOT_NAME))
    with tempfile.TemporaryDirectory(prefix="lxm3-controller-") as scratch:
        spec = {**spec, "launcher": launcher_rel}
        if config_source:
            files.append((Path(config_source), CONFIG_NAME))
            spec["config"] = CONFIG_NAME
        spec_path = Path(scratch) / SPEC_NAME
        spec_path.write_text(json.dumps(spec, indent=1, sort_keys=True))
        files.append((spec_path, SPEC_NAME))
        built = Path(scratch) / "controller.zip"
        write_zip(built, list({name: (path, name) for path, name in files}.values()))
        return ArtifactCache().store(built, "zip"), launcher_rel


def _prepare(unit: Any, options: ControllerOptions) -> tuple[targets.Target, staging.StagedJob, xm.Job, str]:
    """Packages and stages the controller job (blocking; run in a thread)."""
    experiment = unit.experiment
    target = targets.get_target(options.executor, experiment.config)
    target.offline = target.offline or experiment.dry_run
    target.warm_up()
    staging_root = target.staging
    executables = list(experiment.packaged)
    extra = manifest_artifacts(executables)
    container = controller_container(options)
    # The lxm3 bundle for a python3 that lacks lxm3: the cluster's, or the image's.
    bundle = None if target.is_local and container is None else build_bundle()
    if bundle is not None:
        extra.append(bundle)
    spec = {
        "experiment_id": experiment.experiment_id,
        "work_unit_id": unit.work_unit_id,
        "store_identity": experiment.store.identity,
        "cluster": None if target.is_local else target.name,
        "argv": _launcher_argv(dict(options.controller_args)),
        "journal_dir": journal.controller_dir(staging_root, experiment.experiment_id),
        "manifest": [base64.b64encode(pickle.dumps(executable)).decode() for executable in executables],
    }
    package, _ = build_controller_package(options, spec, experiment.config.source)
    env = {
        **{str(k): str(v) for k, v in options.controller_env_vars.items()},
        "LXM3_CONTROLLER_BUNDLE": "" if bundle is None else f"{staging_root}/artifacts/{bundle.file_name}",
        "PYTHONUNBUFFERED": "1",
    }
    # The controller watches its units as this launch would have.
    for name in ("LXM3_POLL_MAX_INTERVAL",):
        if os.environ.get(name):
            env.setdefault(name, os.environ[name])
    # Local: the workstation's own Python (it has lxm3 and the launcher's imports); a cluster
    # or an image: its python3. In an image the runner runs it as any Singularity job's program.
    python = sys.executable if target.is_local and container is None else "python3"
    command = Command(
        name=options.controller_name,
        entrypoint=Entrypoint("argv", (python, BOOT_NAME)),
        artifact=package,
        env_vars=env,
        container=container,
    )
    job = xm.Job(executable=command, executor=options.executor, name=options.controller_name)
    tasks = staging.job_tasks(job)
    label = f"{unit.experiment_unit_name}_{tasks.name}"
    local_root = experiment.local_root_for(target)
    staged = staging.stage_job(
        tasks,
        target,
        local_root,
        unit.unit_rel,
        label=label,
        # Local: the runner writes the logs and the exit file itself (no scheduler process to do it).
        spec_extras={"log_dir": "logs"} if target.is_local else None,
    )
    names = []
    for artifact in extra:
        name = f"artifacts/{artifact.file_name}"
        destination = local_root / name
        if not destination.exists():
            place_atomically(artifact.path, destination, link=True)
        names.append(name)
    staged = attrs.evolve(staged, content_addressed=tuple(dict.fromkeys([*staged.content_addressed, *names])))
    return target, staged, job, label


async def launch_controller(unit: Any, options: ControllerOptions) -> None:
    """The controller's job generator on the workstation: submit it, then return."""
    experiment = unit.experiment
    args_view = {ARGS_KEY: {"name": options.controller_name}}
    await asyncio.to_thread(
        experiment.store.add_work_unit, experiment.experiment_id, unit.work_unit_id, args_view
    )
    target, staged, job, label = await asyncio.to_thread(_prepare, unit, options)
    if experiment.dry_run:
        experiment.report_dry_run(staged, target)
        return
    if target.is_local:
        await asyncio.to_thread(_start_detached, unit, job, target, staged, label)
        return
    # The unit's own submit path: one batched submit, the store row written as for any job.
    staged, submitted = await unit._submit(job, target, staged, label, None)
    unit.jobs.append(unit._record_job(target, staged, submitted))
    log.info("parameter controller of experiment %s submitted", experiment.experiment_id)


def _start_detached(
    unit: Any, job: xm.Job, target: targets.Target, staged: staging.StagedJob, label: str
) -> None:
    """Starts the Local controller as its own session, so it outlives the launcher and the terminal."""
    experiment = unit.experiment
    # A journal left in this dir by another store's experiment of the same id is not ours.
    shutil.rmtree(journal.controller_dir(staged.remote_root, experiment.experiment_id), ignore_errors=True)
    deploying.deploy([staged], target)
    script = staged.scripts[0].path
    log_dir = Path(staged.log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, LXM_ARRAY_INDEX="0")
    with open(log_dir / "0.err", "ab") as errors:
        process = subprocess.Popen(
            ["bash", script],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=errors,
            start_new_session=True,
            close_fds=True,
        )
    submitted = [SubmittedJob(f"local-{process.pid}", ArrayChunk(0, 1), script)]
    experiment.store.add_job(
        experiment.experiment_id,
        unit.work_unit_id,
        {
            "name": staged.name,
            "target": target.name,
            "scheduler": target.scheduler.name,
            "num_tasks": staged.num_tasks,
            "remote_dir": staged.remote_dir,
            "local_dir": str(staged.local_root / staged.job_rel),
            "artifacts": list(staged.content_addressed),
            "submitted": [s.to_record() for s in submitted],
            "executor": job.executor,
            "label": label,
            "owner": [process.pid, socket.gethostname(), process_start_time(process.pid)],
        },
    )
    log.info(
        "parameter controller of experiment %s runs in the background as process %d (logs: %s)",
        experiment.experiment_id,
        process.pid,
        log_dir,
    )


__all__ = ["ControllerOptions", "launch_controller"]
