"""lxm3: launch experiments described in Python onto HPC clusters or this machine.

`import lxm3` stays cheap (a task's training script imports it for
`lxm3.report`): the launcher lives in `lxm3.xm` and `lxm3.xm_cluster`.
"""

from lxm3.reporting import output_dir, report

__version__ = "0.5.0"

__all__ = ["__version__", "output_dir", "report"]
