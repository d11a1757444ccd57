"""The task runner as it is shipped: its modules in one content-addressed zip, run by `python3`.

The runner is split by concept (`task_runner` and its `runner_*` siblings), but
the execution host gets ONE file, `runtime/task_runner-<sha12>.pyz`: a zip
with the modules side by side and a `__main__.py` that calls
`task_runner.main`, which any `python3` (3.6+) runs as `python3 FILE.pyz
JOB_SPEC TASK_ID`. One file keeps deploying ("send it if missing") and
`lxm3 clean` ("keep what a kept experiment names") as they were. The zip is
built byte-identically from the same sources (fixed order, times and modes),
so its digest, and so its name, changes only when a runner module does.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

#: The modules the runner is made of, the entry point first.
RUNNER_MODULES = ("task_runner", "runner_containers", "runner_dependencies", "runner_outputs")

_MAIN = b"import sys\n\nimport task_runner\n\nsys.exit(task_runner.main(sys.argv))\n"
#: zip's earliest date: the archive must not depend on when or where it was built.
_EPOCH = (1980, 1, 1, 0, 0, 0)

_BUILT: tuple[bytes, str] | None = None


def runner_sources() -> dict[str, Path]:
    """Each file of the shipped runner (its name in the zip) -> its source beside this module."""
    here = Path(__file__).parent
    return {f"{name}.py": here / f"{name}.py" for name in RUNNER_MODULES}


def build_runner_zip() -> bytes:
    """The runner zip's bytes: the same for the same sources, wherever they are built."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        files = [("__main__.py", _MAIN)]
        files += [(name, path.read_bytes()) for name, path in runner_sources().items()]
        for name, data in files:
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return buffer.getvalue()


def shipped_runner() -> tuple[bytes, str]:
    """(the zip's bytes, its sha256), built once per process."""
    global _BUILT
    if _BUILT is None:
        data = build_runner_zip()
        _BUILT = (data, hashlib.sha256(data).hexdigest())
    return _BUILT


def runner_file_name() -> str:
    """`task_runner-<sha12>.pyz`: the runner's name under `<staging>/runtime/`."""
    return f"task_runner-{shipped_runner()[1][:12]}.pyz"
