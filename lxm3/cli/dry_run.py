"""What `lxm3 launch --dry-run` prints: every job script and the commands it would run."""

from __future__ import annotations

import shlex
import sys
from typing import Any

from lxm3.xm.masking import mask_text


def print_dry_run(staged: Any, target: Any) -> None:
    """Prints a staged job's scripts and the deploy/submit commands, submitting nothing."""
    out = sys.stdout
    out.write(
        f"# ---- dry run: job {staged.name!r} on {target.name} ({target.scheduler.name}), {staged.num_tasks} task(s)\n"
    )
    out.write(f"# local mirror: {staged.local_root / staged.job_rel}\n")
    files = sorted(set(staged.content_addressed) | set(staged.job_files))
    if not target.is_local:
        out.write(f"# would send (content-addressed ones only if missing) to {staged.remote_root}:\n")
        for name in files:
            out.write(f"#   {name}\n")
    for script in staged.scripts:
        local_path = staged.local_root / script.path[len(staged.remote_root) + 1 :]
        out.write(
            f"# ---- {script.path} (tasks {script.request.chunk.offset}..{script.request.chunk.offset + script.request.chunk.count - 1})\n"
        )
        # Values of secret-looking variables (API keys...) are shown as *** (lxm3.xm.masking).
        out.write(mask_text(local_path.read_text()))
        command = getattr(target.scheduler, "submit_argv", None)
        if command is not None:
            out.write(f"# would run: {mask_text(shlex.join(command(script)))}\n")
    from lxm3.containers.job_spec import describe_task_command

    container = describe_task_command(staged.local_root / staged.job_rel, 0)
    if container is not None:
        out.write(
            "# container command of task 0 (the runner picks the binary and --no-eval on the host at run time):\n"
        )
        out.write("#   " + mask_text(shlex.join(container)).replace("\n", "\n#   ") + "\n")
    out.flush()
