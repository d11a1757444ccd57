"""After-files: globs in a task's work dir that the runner keeps when the program ends.

    xm_cluster.Slurm(after_files=["*.ckpt", "eval/*.json"])
    xm_cluster.ArrayJob(executable, executor, args=[...], after_files=["model.pt"])

The work dir is scratch (removed when the task ends); what the globs match is
copied into the task's output dir (`<job dir>/outputs/<task>/`, kept) whatever
the exit code, keeping paths below the work dir. The executor's globs and the
job's add up. Globs are checked here, at the line of the launch script that
names them; the runner (`lxm3.runtime.runner_outputs.copy_after_files`) copies.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def to_after_files(value: Any) -> tuple[str, ...]:
    """A list of globs relative to the work dir (`**` crosses folders); a string is one glob."""
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, Iterable):
        raise TypeError(f"after_files must be a list of globs such as ['*.ckpt'], got {value!r}")
    globs = []
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise TypeError(f"after_files items must be non-empty glob strings, got {item!r}")
        if item.startswith("/") or ".." in item.split("/"):
            raise ValueError(
                f"after_files glob {item!r} must stay inside the task's work dir (relative, no '..')"
            )
        if "\0" in item or "\n" in item:
            raise ValueError(f"after_files glob {item!r} contains a NUL or newline")
        globs.append(item)
    return tuple(globs)


def job_after_files(executor: Any, job: Any) -> list[str]:
    """The executor's globs then the job's, without repeats (old pickled executors have none)."""
    combined = [*getattr(executor, "after_files", ()), *getattr(job, "after_files", ())]
    return list(dict.fromkeys(combined))
