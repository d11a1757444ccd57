"""Containers: run packaged code inside Singularity/Apptainer images (any executor) or
Docker/Podman images (Local executor).

    specs.py     SingularityContainer, DockerContainer; where an image comes from
    images.py    local .sif -> content-addressed artifact; docker-daemon:// -> .sif (cached)
    builders.py  spec -> Command (registered with lxm3.xm_cluster.packaging when first needed)
    job_spec.py  Command + executor + target -> the job spec's `container` field

The command line itself is built on the execution host by the task runner
(`lxm3.runtime.runner_containers.container_argv`), which also finds the runtime
binary there. See docs/containers.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lxm3.lazy import LazyNames

if TYPE_CHECKING:
    from lxm3.xm_cluster.containers.specs import DockerContainer, SingularityContainer

# Names imported on first use, and the spec builders registered by the packager when it meets a
# spec it has no builder for (`Packager.package`): staging imports `job_spec` from here on every
# launch, which must not import the builders (and every executor) with it.
_EXPORTS = {
    "DockerContainer": "lxm3.xm_cluster.containers.specs",
    "SingularityContainer": "lxm3.xm_cluster.containers.specs",
}


_LAZY = LazyNames(__name__, _EXPORTS)


def __getattr__(name: str) -> Any:
    return _LAZY.get(name)


__all__ = ["DockerContainer", "SingularityContainer"]
