"""The task runner's dependency check: does what this task waits on still hold?

Split from `task_runner.py` (shipped with it in the runner's zip). A scheduler
holds a task until the units it waits on end; what the hold cannot tell (Grid
Engine's holds wait for any end; a split array's "failed") is checked here
from the units' completion files (`<task>.exit`). A task whose dependency can
never hold is not run and ends with `DEPENDENCY_NOT_MET`.

It runs on the execution host as part of the task runner: standard library
only, Python 3.6+ (no f-strings, no annotations), like `task_runner.py`.
"""

import os

#: The exit code of a task that never ran because its dependency can no longer hold;
#: lxm3 reports such a task CANCELLED with the reason (never FAILED).
DEPENDENCY_NOT_MET = 121


def read_exit_file(log_dir, task_id):
    """The code in `<log_dir>/<task>.exit`, or None when the task left none (never ran, killed)."""
    try:
        with open(os.path.join(log_dir, "%d.exit" % task_id)) as handle:
            return int(handle.read().strip())
    except (OSError, ValueError):
        return None


def term_holds(condition, codes):
    """Whether a condition holds for a unit whose tasks ended with `codes` (None: no exit file).

    Only called once the scheduler says every task of the unit ended, so a
    missing exit file means the task was cancelled or killed: not a success.
    """
    if condition == "succeeded":
        return all(code == 0 for code in codes)
    if condition == "failed":
        return any(code != 0 for code in codes)
    return True  # finished, started: the scheduler's hold already established them


def term_codes(term, task_id, read_code=read_exit_file):
    """The exit codes a term looks at: every task of its unit, or only task `task_id` (per task)."""
    codes = []
    for job in term["jobs"]:
        if term.get("per_task"):
            codes.append(read_code(job["log_dir"], task_id))
        else:
            codes.extend(read_code(job["log_dir"], task) for task in range(job["num_tasks"]))
    return codes


def unmet_reason(term):
    """Why a term can never hold, in the words `lxm3 status` shows."""
    if term["condition"] == "failed":
        return "dependency on %s did not fail" % (term["what"],)
    return "dependency on %s failed" % (term["what"],)


def dependency_block(dependency, task_id, read_code=read_exit_file):
    """None when the job spec's dependency holds for this task, else the reason it never will.

    The scheduler held the task until the units it waits on ended; what it
    could not check itself (Grid Engine's holds wait for any end; a split
    array's "failed") is checked here, from the units' recorded exit files.
    """
    terms = dependency.get("terms", [])
    results = [(term, term_holds(term["condition"], term_codes(term, task_id, read_code))) for term in terms]
    if not results:
        return None
    if dependency.get("mode") == "any":
        return None if any(ok for _, ok in results) else unmet_reason(results[0][0])
    for term, ok in results:
        if not ok:
            return unmet_reason(term)
    return None
