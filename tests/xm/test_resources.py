"""JobRequirements: resources, units, accelerators and their errors."""

from __future__ import annotations

import pytest

from lxm3 import xm
from lxm3.xm.resources import ResourceType


def test_units_are_xmanagers() -> None:
    assert (xm.KB, xm.MB, xm.GB, xm.TB) == (10**3, 10**6, 10**9, 10**12)
    assert (xm.KiB, xm.MiB, xm.GiB, xm.TiB) == (2**10, 2**20, 2**30, 2**40)
    assert (xm.Sec, xm.Min, xm.Hr, xm.Day) == (1, 60, 3600, 86400)


def test_cpu_and_memory_with_ram_as_an_alias() -> None:
    requirements = xm.JobRequirements(cpu=4, ram=8 * xm.GiB)
    assert requirements.cpu == 4
    assert requirements.memory == 8 * 2**30
    assert requirements.task_requirements == {ResourceType.CPU: 4, ResourceType.MEMORY: 8 * 2**30}
    assert xm.JobRequirements(memory=1 * xm.GB).memory == 10**9


def test_disk_is_ephemeral_storage() -> None:
    requirements = xm.JobRequirements(disk=10 * xm.GiB)
    assert requirements.task_requirements == {ResourceType.EPHEMERAL_STORAGE: 10 * 2**30}


def test_no_resources_means_nothing_requested() -> None:
    requirements = xm.JobRequirements()
    assert requirements.cpu is None and requirements.memory is None
    assert (
        requirements.accelerator is None
        and requirements.gpu_count == 0
        and requirements.accelerator_count == 0
    )


def test_generic_and_named_gpus() -> None:
    generic = xm.JobRequirements(gpu=2)
    assert generic.accelerator is ResourceType.GPU and generic.gpu_count == 2
    named = xm.JobRequirements(a100=4, cpu=8)
    assert named.accelerator is ResourceType.A100 and named.gpu_count == 4 and named.accelerator_count == 4
    assert named.accelerator in xm.GpuType and named.accelerator in xm.AcceleratorType


def test_resource_names_are_case_insensitive_and_accept_the_enum() -> None:
    by_dict = xm.JobRequirements({"V100": 1, ResourceType.CPU: 2})
    assert by_dict.accelerator is ResourceType.V100 and by_dict.cpu == 2
    assert xm.JobRequirements({"A100_80GiB": 1}).accelerator is ResourceType.A100_80GIB


def test_a_resource_given_twice_is_an_error() -> None:
    with pytest.raises(ValueError, match="CPU has been specified twice"):
        xm.JobRequirements({"cpu": 1, "ram": xm.GiB}, cpu=3)
    with pytest.raises(ValueError, match="specified twice"):
        xm.JobRequirements(ram=1, memory=2)  # RAM is an alias of MEMORY


def test_tpus_are_accelerators_but_not_gpus() -> None:
    requirements = xm.JobRequirements(tpu_v3=8)
    assert requirements.accelerator is ResourceType.TPU_V3
    assert requirements.accelerator in xm.TpuType and requirements.accelerator not in xm.GpuType
    assert requirements.accelerator_count == 8 and requirements.gpu_count == 0


def test_unknown_resource_names_the_valid_ones() -> None:
    with pytest.raises(ValueError) as error:
        xm.JobRequirements(gpuz=1)
    message = str(error.value)
    assert "'gpuz'" in message and "a100" in message and "cpu" in message


def test_two_accelerator_kinds_are_rejected() -> None:
    with pytest.raises(ValueError, match="one accelerator kind"):
        xm.JobRequirements(v100=1, a100=1)
    with pytest.raises(ValueError, match="one accelerator kind"):
        xm.JobRequirements(gpu=1, tpu_v2=1)


@pytest.mark.parametrize("value", [-1, "-2", None, [1]])
def test_bad_amounts_are_rejected(value: object) -> None:
    with pytest.raises(ValueError, match="non-negative number"):
        xm.JobRequirements(cpu=value)  # type: ignore[arg-type]


@pytest.mark.parametrize("replicas", [0, -2, 1.5, "2"])
def test_bad_replicas_are_rejected(replicas: object) -> None:
    with pytest.raises(ValueError, match="replicas"):
        xm.JobRequirements(replicas=replicas)  # type: ignore[arg-type]


def test_location_replicas_equality_and_repr() -> None:
    a = xm.JobRequirements(cpu=1, location="gpu-partition", replicas=2)
    assert a.location == "gpu-partition" and a.replicas == 2
    assert a == xm.JobRequirements({"cpu": 1}, location="gpu-partition", replicas=2)
    assert a != xm.JobRequirements(cpu=1, location="other", replicas=2)
    assert a != xm.JobRequirements(cpu=2, location="gpu-partition", replicas=2)
    assert repr(a) == "xm.JobRequirements(cpu=1.0, location='gpu-partition', replicas=2)"


def test_type_sets_iterate_their_members() -> None:
    assert set(xm.GpuType) | set(xm.TpuType) == set(xm.AcceleratorType)
    assert xm.GpuType.V100 is ResourceType.V100
    assert ResourceType.CPU not in xm.AcceleratorType
    assert str(ResourceType.A100) == "A100"
