"""Containers: run packaged code inside Singularity/Apptainer images (any executor) or
Docker/Podman images (Local executor).

    specs.py     SingularityContainer, DockerContainer; where an image comes from
    images.py    local .sif -> content-addressed artifact; docker-daemon:// -> .sif (cached)
    builders.py  spec -> Command (registered with lxm3.xm_cluster.packaging)
    job_spec.py  Command + executor + target -> the job spec's `container` field

The command line itself is built on the execution host by the task runner
(`lxm3.runtime.task_runner.container_argv`), which also finds the runtime
binary there. See docs/containers.md.
"""

# xm_cluster first: the container modules build on its specs, and it re-exports theirs.
import lxm3.xm_cluster  # noqa: F401
from lxm3.containers.builders import register as _register
from lxm3.containers.specs import DockerContainer, SingularityContainer

_register()

__all__ = ["DockerContainer", "SingularityContainer"]
