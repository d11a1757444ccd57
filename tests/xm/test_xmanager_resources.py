"""Resources as XManager defines them: names, codes, subsets, topologies, errors, repr."""

from __future__ import annotations

import pytest

from lxm3 import xm
from lxm3.xm.resources import ResourceType, UnknownResourceError


def test_resource_type_is_found_by_name_in_any_case() -> None:
    assert ResourceType["cpu"] is ResourceType["Cpu"] is ResourceType["CPU"] is ResourceType.CPU
    assert (
        ResourceType["ram"] is ResourceType.MEMORY and ResourceType["disk"] is ResourceType.EPHEMERAL_STORAGE
    )
    assert ResourceType["local_gpu"] is ResourceType.GPU


def test_unknown_names_are_key_errors_naming_the_valid_ones() -> None:
    with pytest.raises(KeyError):
        ResourceType["UPC"]
    with pytest.raises(KeyError) as error:
        xm.JobRequirements(cpu=0.5 * xm.vCPU, upc=2)
    assert isinstance(error.value, ValueError)  # also caught by `except ValueError`
    assert "'upc'" in str(error.value) and "v100" in str(error.value)
    assert issubclass(UnknownResourceError, KeyError)


def test_gpu_type_subset_uses_xmanagers_codes() -> None:
    assert xm.GpuType["V100"] is xm.GpuType(17) is xm.GpuType.V100 is ResourceType.V100
    with pytest.raises(AttributeError):
        xm.GpuType["TPU_V3"]
    with pytest.raises(ValueError):
        xm.GpuType(170)
    assert ResourceType.V100 in set(xm.GpuType) and ResourceType.TPU_V3 not in set(xm.GpuType)
    assert ResourceType.TPU_V3 in xm.TpuType and None not in xm.GpuType


def test_units_include_vcpu_and_peta() -> None:
    assert xm.vCPU == 1.0 and xm.PB == 10**15 and xm.PiB == 2**50


def test_resource_dict_prints_sorted_and_sums() -> None:
    resources = xm.ResourceDict()
    resources[ResourceType.V100] = 8
    resources[ResourceType.CPU] = 4.2 * xm.vCPU
    resources[ResourceType.MEMORY] = 16.5 * xm.GiB
    assert str(resources) == "CPU: 4.2, MEMORY: 17716740096.0, V100: 8"
    first = xm.JobRequirements(cpu=1, tpu_v2="2x2")
    second = xm.JobRequirements(ram=4 * xm.GiB, replicas=10)
    total = first.replicas * first.task_requirements + second.replicas * second.task_requirements
    assert dict(total) == {ResourceType.CPU: 1, ResourceType.TPU_V2: 4, ResourceType.RAM: 40 * xm.GiB}


@pytest.mark.parametrize(("name", "chips"), [("2", 2), ("4x4", 16), ("2x3x5", 30), ("4x4_twisted", 16)])
def test_topology_chip_count(name: str, chips: int) -> None:
    assert xm.Topology(name).chip_count == chips


def test_topology_errors_repr_and_equality() -> None:
    with pytest.raises(xm.InvalidTpuTopologyError):
        xm.Topology("euclidian")
    assert repr(xm.Topology("4x4")) == "xm.Topology('4x4')"
    assert xm.Topology("4x4") == xm.Topology("4x4") != xm.Topology("2x2")
    assert hash(xm.Topology("4x4")) == hash(xm.Topology("4x4"))


def test_cpu_job_defaults() -> None:
    requirements = xm.JobRequirements(cpu=1.2, ram=1 * xm.GiB)
    assert requirements.task_requirements[ResourceType.RAM] == xm.GiB
    assert requirements.accelerator is None and requirements.topology is None
    assert requirements.replicas == 1 and requirements.service_tier is xm.ServiceTier.PROD


def test_accelerator_topologies_and_multihost_gpus() -> None:
    tpu = xm.JobRequirements(tpu_v3="4x4")
    assert tpu.accelerator is ResourceType.TPU_V3 and tpu.topology == xm.Topology("4x4")
    gpus = xm.JobRequirements(v100="4x2", cpu=1)
    assert gpus.topology is not None and gpus.topology.name == "4x2" and gpus.replicas == 2
    assert xm.JobRequirements(v100=2).topology == xm.Topology("2")
    xm.JobRequirements(replicas=2, v100="4x2")
    with pytest.raises(ValueError, match="replicas should be either None or 2"):
        xm.JobRequirements(v100="4x2", replicas=3)
    with pytest.raises(ValueError, match="Replicated jobs are not supported"):
        xm.JobRequirements(replicas=2, tpu_v3="4x4")
    with pytest.raises(ValueError, match="topology specified for non accelerator"):
        xm.JobRequirements(cpu="2x2")


def test_second_accelerator_kind_is_rejected() -> None:
    with pytest.raises(ValueError, match="Accelerator already set"):
        xm.JobRequirements(v100=1, tpu_v2=1)


def test_service_tier_is_settable_and_in_repr() -> None:
    requirements = xm.JobRequirements(service_tier=xm.ServiceTier.PROD)
    requirements.service_tier = xm.ServiceTier.BATCH
    assert requirements.service_tier is xm.ServiceTier.BATCH
    assert repr(
        xm.JobRequirements(cpu=1, location="lon_r7", service_tier=xm.ServiceTier.BATCH, replicas=2)
    ) == ("xm.JobRequirements(cpu=1.0, location='lon_r7', service_tier=xm.ServiceTier.BATCH, replicas=2)")
    assert repr(xm.JobRequirements(cpu=1)) == "xm.JobRequirements(cpu=1.0)"
    assert repr(xm.JobRequirements(tpu_v2="2x2")) == "xm.JobRequirements(tpu_v2=xm.Topology('2x2'))"


def test_architecture_is_kept_compared_and_shown() -> None:
    arm = xm.JobRequirements(cpu=2, architecture=xm.Architecture.ARM64)
    assert arm.architecture is xm.Architecture["arm64"]
    assert arm != xm.JobRequirements(cpu=2)
    assert repr(arm) == "xm.JobRequirements(cpu=2.0, architecture=xm.Architecture.ARM64)"


def test_merge_overrides_with_the_other_requirements() -> None:
    base = xm.JobRequirements(cpu=2, ram=4 * xm.GiB, v100=1, location="gpu")
    merged = base.merge(xm.JobRequirements(ram=8 * xm.GiB, a100=2, replicas=3))
    assert merged.cpu == 2 and merged.memory == 8 * xm.GiB
    assert merged.accelerator is ResourceType.A100 and merged.gpu_count == 2
    assert ResourceType.V100 not in merged.task_requirements
    assert merged.location == "gpu" and merged.replicas == 3
    assert base.memory == 4 * xm.GiB and base.accelerator is ResourceType.V100  # unchanged
    assert xm.JobRequirements(cpu=1).merge(xm.JobRequirements()) == xm.JobRequirements(cpu=1)


def test_string_amounts_are_parsed_and_bad_ones_named() -> None:
    assert xm.JobRequirements(cpu="4").cpu == 4.0
    with pytest.raises(ValueError, match="Couldn't parse resource quantity for CPU"):
        xm.JobRequirements(cpu="four")
