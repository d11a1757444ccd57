"""`lxm3.xm_cluster.requirements`, where lxm3 0.4 kept its resource vocabulary.

The classes are lxm3's own (`lxm3.xm.resources`): `JobRequirements(cpu=..,
ram=.., gpu=.., location=..)` and `ResourceType` work as in 0.4's module.
"""

from lxm3.xm.resources import AcceleratorType, GpuType, JobRequirements, ResourceType

__all__ = ["AcceleratorType", "GpuType", "JobRequirements", "ResourceType"]
