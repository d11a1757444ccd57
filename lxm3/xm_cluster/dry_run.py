"""What `lxm3 launch --dry-run` shows: every job script and the commands it would run.

Produced here, below the CLI, as text; the experiment writes it to stdout as
each job is staged, and nothing is sent or submitted.
"""

from __future__ import annotations

import shlex

from lxm3.xm_cluster.containers.job_spec import describe_task_command
from lxm3.xm_cluster.staging import StagedJob
from lxm3.xm_cluster.targets import Target


def describe_dry_run(staged: StagedJob, target: Target) -> str:
    """A staged job's scripts and the deploy/submit commands, as comment-annotated text."""
    lines = [
        f"# ---- dry run: job {staged.name!r} on {target.name} ({target.scheduler.name}), {staged.num_tasks} task(s)\n",
        f"# local mirror: {staged.local_root / staged.job_rel}\n",
    ]
    if staged.packing:
        lines.append(f"# {staged.packing}\n")
    files = sorted(set(staged.content_addressed) | set(staged.job_files))
    if not target.is_local:
        lines.append(f"# would send (content-addressed ones only if missing) to {staged.remote_root}:\n")
        lines.extend(f"#   {name}\n" for name in files)
    for script in staged.scripts:
        local_path = staged.local_root / script.path[len(staged.remote_root) + 1 :]
        chunk = script.request.chunk
        packed = f", {chunk.pack} per array task: {chunk.array_size} array tasks" if chunk.pack > 1 else ""
        lines.append(
            f"# ---- {script.path} (tasks {chunk.offset}..{chunk.offset + chunk.count - 1}{packed})\n"
        )
        lines.append(local_path.read_text())
        try:
            command = target.scheduler.submit_argv(script)
        except NotImplementedError:
            continue
        lines.append(f"# would run: {shlex.join(command)}\n")
    container = describe_task_command(staged.local_root / staged.job_rel, 0)
    if container is not None:
        lines.append(
            "# container command of task 0 (the runner picks the binary and --no-eval on the host at run time):\n"
        )
        lines.append("#   " + shlex.join(container).replace("\n", "\n#   ") + "\n")
    return "".join(lines)
