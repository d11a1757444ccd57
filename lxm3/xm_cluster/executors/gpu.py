"""Whether a job asks for GPUs, through any of the ways an executor can say so.

A container needs `--nv` (Docker: `--gpus all`) to see the GPUs the scheduler
gave the job. lxm3 0.4 launch scripts ask for GPUs in several ways besides
`requirements` (`GridEngine(resources={"gpu": 1})`, a parallel environment
named `gpu`, `Slurm(extra_directives=["--gres=gpu:1"])`), and each of them must
turn the flag on, or the job silently runs without its GPUs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

#: Slurm options that request GPUs (`--gres=gpu...`, `--gpus...`, `-G N`).
_SLURM_GPU_OPTION = re.compile(
    r"^(--gpus(-per-[a-z]+)?|--gres=.*\bgpu\b.*|-G\s*\S+|--gres\s+.*\bgpu\b.*)", re.I
)
#: Grid Engine `-l` requests naming a GPU complex (`-l gpu=1`, `-l gpu_type=a100`, `-l ngpus=2`).
_SGE_GPU_OPTION = re.compile(r"^(-l|-hard\s+-l|-soft\s+-l)\s+.*gpu", re.I)
_SGE_GPU_PE = re.compile(r"^-pe\s+\S*gpu", re.I)
#: Values that mean "no" in a resource request.
_NO = {"", "0", "0.0", "false", "no", "none", "off"}


def _requested(value: Any) -> bool:
    if value is None or value is False:
        return False
    return str(value).strip().lower() not in _NO


def _gpu_resources(resources: Mapping[str, Any]) -> bool:
    for key, value in resources.items():
        name = str(key).lower().lstrip("-")
        if name == "gres":
            if value is not None and re.search(r"\bgpu\b", str(value), re.I) and _requested(value):
                return True
        elif "gpu" in name and (value is None or _requested(value)):
            return True
    return False


def _gpu_directives(lines: Iterable[str]) -> bool:
    for raw in lines:
        line = str(raw).strip()
        for prefix in ("#SBATCH", "#$"):
            if line.startswith(prefix):
                line = line[len(prefix) :].strip()
        if _SLURM_GPU_OPTION.match(line) or _SGE_GPU_OPTION.match(line) or _SGE_GPU_PE.match(line):
            return True
    return False


def wants_gpu(executor: Any) -> bool:
    """True when the executor asks for at least one GPU in any form it accepts."""
    requirements = getattr(executor, "requirements", None)
    if int(getattr(requirements, "gpu_count", 0) or 0) > 0:
        return True
    if _gpu_resources(dict(getattr(executor, "resources", None) or {})):
        return True
    environments = dict(getattr(executor, "parallel_environments", None) or {})
    if any("gpu" in str(name).lower() and _requested(slots) for name, slots in environments.items()):
        return True
    return _gpu_directives(getattr(executor, "extra_directives", None) or ())
