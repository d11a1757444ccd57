"""lxm3: launch experiments described in Python onto HPC clusters or this machine.

`import lxm3` costs nothing: a task's training script imports it for
`lxm3.report` (resolved on first use, PEP 562), and the `lxm3` command's
first step (handing the command to a warm process) imports it too. The
launcher lives in `lxm3.xm` and `lxm3.xm_cluster`.
"""

from __future__ import annotations

TYPE_CHECKING = False  # (not `typing.TYPE_CHECKING`: importing typing is most of this module's cost)
if TYPE_CHECKING:
    from typing import Any

    from lxm3.reporting import output_dir, report

__version__ = "0.5.0"

__all__ = ["__version__", "output_dir", "report"]


def __getattr__(name: str) -> Any:
    if name in ("output_dir", "report"):
        from lxm3 import reporting

        return getattr(reporting, name)
    raise AttributeError(f"module 'lxm3' has no attribute {name!r}")
