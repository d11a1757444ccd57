"""lxm3: launch experiments described in Python onto HPC clusters or this machine."""

__version__ = "0.5.0"
