"""The container specs under their lxm3 0.5 import path; they live in `lxm3.xm_cluster.containers`.

Launch scripts usually take them from `xm_cluster` (`xm_cluster.SingularityContainer`).
"""

from lxm3.xm_cluster.containers.specs import DockerContainer, SingularityContainer

__all__ = ["DockerContainer", "SingularityContainer"]
