"""Starts a parameter controller with the cluster's python3 (stdlib only, Python 3.6 syntax).

Run by the task runner as `python3 lxm3_controller_boot.py` in the controller's
work dir (the launcher package). It checks the Python version (one line
naming the version found when too old), unpacks the lxm3 bundle named by
`$LXM3_CONTROLLER_BUNDLE` into `<staging>/runtime/lxm3-bundle-<sha12>/` once
(a content-addressed dir, reused by every later controller; unpacked under a
temporary name, then renamed, so two controllers starting together are safe),
puts it first on sys.path and hands over to `lxm3.xm_cluster.controller.runtime`.
An empty `$LXM3_CONTROLLER_BUNDLE` means lxm3 is importable already (Local).
"""

import json
import os
import shutil
import sys
import tempfile
import time
import zipfile

MIN_VERSION = (3, 10)


def unpack(bundle):
    """The bundle's unpacked dir next to the staging root's runtime/, made once."""
    name = os.path.basename(bundle).split(".")[0][:12]
    staging = os.path.dirname(os.path.dirname(os.path.abspath(bundle)))
    destination = os.path.join(staging, "runtime", "lxm3-bundle-" + name)
    if os.path.isdir(destination):
        return destination
    parent = os.path.dirname(destination)
    if not os.path.isdir(parent):
        os.makedirs(parent, 0o700)
    scratch = tempfile.mkdtemp(prefix=".lxm3-bundle-", dir=parent)
    try:
        with zipfile.ZipFile(bundle) as archive:
            archive.extractall(scratch)
        try:
            os.rename(scratch, destination)
        except OSError:
            if not os.path.isdir(destination):  # not another controller's win: a real failure
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return destination


def journal_failure(error):
    """Ends the controller's journal as FAILED with `error`, so `lxm3 status` shows that line.

    The spec (`lxm3_controller.json`, in the work dir) names the journal's dir;
    the event is the one `runtime.main` writes when the coroutine fails.
    """
    try:
        with open("lxm3_controller.json") as handle:
            directory = json.load(handle)["journal_dir"]
        if not os.path.isdir(directory):
            os.makedirs(directory, 0o700)
        line = json.dumps({"event": "end", "time": time.time(), "state": "FAILED", "error": error}) + "\n"
        fd = os.open(os.path.join(directory, "journal.jsonl"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode("utf-8"))
        finally:
            os.close(fd)
    except (OSError, ValueError, KeyError, TypeError):
        pass  # the log still has the line


def main():
    if sys.version_info[:2] < MIN_VERSION:
        error = (
            "lxm3: the parameter controller needs Python >= %d.%d on the cluster; `python3` here is %s (%s)"
            % (MIN_VERSION + (sys.version.split()[0], sys.executable))
        )
        sys.stderr.write(error + "\n")
        journal_failure(error)
        return 2
    bundle = os.environ.get("LXM3_CONTROLLER_BUNDLE", "")
    if bundle:
        sys.path.insert(0, unpack(bundle))
    from lxm3.xm_cluster.controller import runtime

    return runtime.main()


if __name__ == "__main__":
    sys.exit(main())
