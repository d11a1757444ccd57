"""What a task leaves behind: its output dir, and the after-files copied there when it ends.

Split from `task_runner.py` (shipped with it in the runner's zip). Every task
has an output dir that outlives its work dir, `<job dir>/outputs/<task>/`
(`LXM_OUTPUT_DIR`), with a metrics file the program may append JSON lines to
(`LXM_METRICS_FILE`, see `lxm3.report`).

It runs on the execution host as part of the task runner: standard library
only, Python 3.6+ (no f-strings, no annotations), like `task_runner.py`.
"""

import glob
import os
import shutil

METRICS_NAME = "metrics.jsonl"


def output_dir_of(spec, base, task_id):
    """`<job dir>/outputs/<task>`: where the task's results stay after the work dir is gone."""
    return os.path.join(resolve(base, spec.get("outputs") or "outputs"), str(task_id))


def copy_after_files(workdir, patterns, output_dir):
    """Copies what `patterns` (globs relative to the work dir) match into output_dir.

    Paths keep their place below the work dir (`eval/*.json` -> `<out>/eval/x.json`);
    matches outside the work dir (`../x`, symlinks out) are skipped. Returns the
    problems met, one line each, so one unreadable file does not lose the others.
    """
    problems = []
    root = os.path.realpath(workdir)
    for pattern in patterns:
        for match in sorted(glob.glob(os.path.join(glob.escape(workdir), pattern), recursive=True)):
            real = os.path.realpath(match)
            if real == root or not real.startswith(root + os.sep):
                continue
            relative = os.path.relpath(match, workdir)
            try:
                if os.path.isdir(match):
                    for folder, _, names in os.walk(match):
                        for name in names:
                            source = os.path.join(folder, name)
                            copy_one(source, os.path.join(output_dir, os.path.relpath(source, workdir)))
                else:
                    copy_one(match, os.path.join(output_dir, relative))
            except OSError as error:
                problems.append("cannot copy %s: %s" % (relative, error))
    return problems


def copy_one(source, destination):
    """Copies a file under a temporary name, then renames it: a reader never sees half of it."""
    parent = os.path.dirname(destination)
    os.makedirs(parent, exist_ok=True)
    temporary = os.path.join(parent, ".lxm3-%d-%s" % (os.getpid(), os.path.basename(destination)))
    shutil.copy2(source, temporary)
    os.rename(temporary, destination)


def resolve(base, path):
    return path if os.path.isabs(path) else os.path.join(base, path)
