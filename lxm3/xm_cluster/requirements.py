"""`lxm3.xm_cluster.requirements`, where lxm3 0.4 kept its resource vocabulary.

The classes are lxm3's own (`lxm3.xm`): `JobRequirements(cpu=.., ram=..,
gpu=.., location=..)`, `ResourceType`, `ResourceDict` work as in 0.4's module.
"""

from lxm3.xm import AcceleratorType, GpuType, JobRequirements, ResourceDict, ResourceQuantity, ResourceType

__all__ = [
    "AcceleratorType",
    "GpuType",
    "JobRequirements",
    "ResourceDict",
    "ResourceQuantity",
    "ResourceType",
]
