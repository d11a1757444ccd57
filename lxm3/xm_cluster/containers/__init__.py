"""Containers: run packaged code inside Singularity/Apptainer images (any executor) or
Docker/Podman images (Local executor).

    specs.py     SingularityContainer, DockerContainer; where an image comes from
    images.py    local .sif -> content-addressed artifact; docker-daemon:// -> .sif (cached)
    builders.py  spec -> Command (registered with lxm3.xm_cluster.packaging on import)
    job_spec.py  Command + executor + target -> the job spec's `container` field

The command line itself is built on the execution host by the task runner
(`lxm3.runtime.runner_containers.container_argv`), which also finds the runtime
binary there. See docs/containers.md.
"""

# Registering the spec builders here means importing xm_cluster (which imports the specs) enables them.
from lxm3.xm_cluster.containers.builders import register as _register
from lxm3.xm_cluster.containers.specs import DockerContainer, SingularityContainer

_register()

__all__ = ["DockerContainer", "SingularityContainer"]
