"""The `container` field of a job spec (job.json), which the task runner obeys.

    {"runtime": "singularity" | "docker",
     "binary":  null | "/path/to/apptainer",      # null: found on the host at run time
     "image":   "<staging>/artifacts/<sha256>.sif" | "docker://..." | "/cluster/path.sif" | "img:tag",
     "verb":    "exec" | "run",                   # run: the image's own entrypoint
     "bind":    [[src, dst], ...],
     "options": [...],                            # extra runtime CLI options, verbatim
     "nv":      true | false}                     # GPUs requested: --nv (docker: --gpus all)

Everything that depends on the execution host (which binary, whether it has
`--no-eval`, the task's working directory) is decided by the runner there.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from lxm3.runtime import task_runner
from lxm3.xm_cluster.executables import Command
from lxm3.xm_cluster.executors.gpu import wants_gpu


def _check_bind(src: str, dst: str, what: str) -> None:
    where = f"{what} {src!r}: {dst!r}"
    if not os.path.isabs(src) or not os.path.isabs(dst.split(":", 1)[0]):
        raise ValueError(f"{where}: both paths must be absolute")
    if ":" in src or "," in src or "," in dst:
        raise ValueError(f"{where}: container runtimes cannot bind paths containing ':' or ','")


def _binds(*tables: tuple[str, Any]) -> list[list[str]]:
    merged: dict[str, str] = {}
    for what, table in tables:
        for src, dst in dict(table or {}).items():
            _check_bind(str(src), str(dst), what)
            merged[str(src)] = str(dst)
    return [[src, dst] for src, dst in sorted(merged.items())]


def verb_of(executable: Command) -> str:
    """`run` when the image's own entrypoint runs (xm.Container), else `exec` of our program."""
    entry = executable.entrypoint
    return "run" if entry.kind == "argv" and not entry.value else "exec"


def container_job_spec(
    executable: Command, executor: Any, target: Any, image_path: str | None
) -> dict[str, Any] | None:
    """The job spec's container field, or None for a job without a container.

    `image_path` is where a deployed image artifact lies on the execution host.
    """
    if executable.docker_image is not None:
        if not target.is_local:
            raise ValueError(
                f"{executable.name}: Docker images run only on the Local executor; on {target.name} use "
                f"xm_cluster.SingularityContainer(..., image_path='docker://{executable.docker_image}')"
            )
        options = getattr(executor, "docker_options", None)
        return {
            "runtime": "docker",
            "binary": None,
            "image": executable.docker_image,
            "verb": verb_of(executable),
            "bind": _binds(("DockerOptions.volumes", getattr(options, "volumes", None))),
            "options": list(getattr(options, "extra_options", []) or []),
            "nv": wants_gpu(executor),
        }
    image = executable.container
    if image is None:
        return None
    location = image_path or image.uri
    if not location:
        raise ValueError(f"{executable.name}: its container image has neither a deployed file nor a URI")
    cluster = getattr(target, "cluster_config", None)
    options = getattr(executor, "singularity_options", None)
    return {
        "runtime": "singularity",
        "binary": getattr(cluster, "singularity_binary", None),
        "image": location,
        "verb": verb_of(executable),
        "bind": _binds(
            ("[clusters.singularity] binds", getattr(cluster, "singularity_binds", None)),
            ("SingularityOptions.bind", getattr(options, "bind", None)),
        ),
        "options": list(getattr(options, "extra_options", []) or []),
        "nv": wants_gpu(executor),
    }


def describe_task_command(job_dir: Path, task_id: int = 0, workdir: str = "<workdir>") -> list[str] | None:
    """The container command the runner would build for one task (for `--dry-run`).

    The binary is shown as configured (else `apptainer`/`docker`), `--no-eval`
    as on a modern runtime, and ShellSafeArg items unexpanded: those three are
    decided on the execution host at run time.
    """
    spec = json.loads((job_dir / "job.json").read_text())
    container = spec.get("container")
    if not container:
        return None
    record = task_runner.read_task(job_dir / spec["table"], job_dir / spec["index"], task_id)
    args = [
        item[task_runner.SHELL_ITEM_KEY] if isinstance(item, dict) else item
        for item in record.get("args", [])
    ]
    program = task_runner.entrypoint_argv(spec, args)
    default = "docker" if container.get("runtime") == "docker" else "apptainer"
    binary = container.get("binary") or default
    keys = task_runner.task_env_keys(spec, record)
    return task_runner.container_argv(container, binary, workdir, keys, program, no_eval=True)
