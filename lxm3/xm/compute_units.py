"""Unit constants for resource amounts and durations (`8 * xm.GiB`, `2 * xm.Hr`).

Launch scripts multiply by these so amounts read naturally; the values are
XManager's (bytes, vCPUs) plus lxm3's durations in seconds for walltimes.
"""

from __future__ import annotations

vCPU = 1.0  # noqa: N816 - XManager's public name; one virtual CPU

KiB = 2**10
MiB = 2**20
GiB = 2**30
TiB = 2**40
PiB = 2**50

KB = 10**3
MB = 10**6
GB = 10**9
TB = 10**12
PB = 10**15

# Durations in seconds (walltimes).
Sec = 1
Min = 60
Hr = 3600
Day = 86400

__all__ = ["GB", "KB", "MB", "PB", "TB", "Day", "GiB", "Hr", "KiB", "MiB", "Min", "PiB", "Sec", "TiB", "vCPU"]
