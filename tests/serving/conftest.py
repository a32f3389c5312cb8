"""Shared data for the serving tests: GPU states as the MigSnapshot fact returns them,
containers as docker inspect reports them, and a host that answers facts from a dict."""
from __future__ import annotations

from contextlib import contextmanager

import pytest
from pyinfra.api import StringCommand
from pyinfra.context import ctx_host

from migfleet.serving import settings as serving_settings
from migfleet.serving import triton
from migfleet.serving.containers import Container, LABEL_CONFIG, LABEL_GPU_UUID, LABEL_MIG_UUID, LABEL_ROLE, label_value
from migfleet.mig import catalog
from migfleet.mig.geometry import default_ci
from migfleet.mig.state import ComputeInstance, GpuInstance, GpuState, MigDevice

SIZES = {"1g.5gb": (19, 1), "2g.10gb": (14, 2), "3g.20gb": (9, 4), "7g.40gb": (0, 8)}


def a100(index: int, instances: list[tuple[int, str, int]], mig: bool = True, pending: bool | None = None) -> GpuState:
    """An A100-40GB with GPU instances (gi_id, profile name, start), one full CI each."""
    gpu_uuid = f"GPU-{index:08d}-aaaa-bbbb-cccc-000000000000"
    gis, cis, devs = [], [], []
    for gi_id, name, start in instances:
        profile_id, size = SIZES[name]
        gis.append(GpuInstance(gi_id=gi_id, profile_id=profile_id, name=name, start=start, size=size))
        ci_profile = default_ci(catalog.lookup("NVIDIA A100-SXM4-40GB").profile(profile_id))
        cis.append(ComputeInstance(gi_id=gi_id, ci_id=0, profile_id=ci_profile, name=name, start=0, size=size))
        devs.append(MigDevice(uuid=f"MIG-{index:02d}{gi_id:02d}0000-1111-2222-3333-444444444444",
                              gi_id=gi_id, ci_id=0, name=name))
    return GpuState(index=index, uuid=gpu_uuid, name="NVIDIA A100-SXM4-40GB",
                    pci_bus_id=f"00000000:{index + 7:02X}:00.0", mig_current=mig,
                    mig_pending=mig if pending is None else pending, memory_mib=40960,
                    driver_version="550.54.15", gpu_instances=tuple(gis),
                    compute_instances=tuple(cis), mig_devices=tuple(devs))


def host_gpus(*gpus: GpuState) -> dict[str, GpuState]:
    return {g.uuid: g for g in gpus}


def running_from(spec: triton.Triton, mig_uuid: str, status: str = "running",
                 config_hash: str | None = None) -> Container:
    """The container the host-side start of this spec on `mig_uuid` leaves (labels from its arguments)."""
    args = triton.run_args_for(spec.run_args, spec.config_hash, mig_uuid)
    labels = {key: label_value(args, key) for key in (LABEL_ROLE, LABEL_MIG_UUID, LABEL_GPU_UUID, LABEL_CONFIG)}
    if config_hash is not None:
        labels[LABEL_CONFIG] = config_hash
    return Container(name=spec.name, id=f"id-{spec.name}", image=args[args.index("tritonserver") - 1],
                     status=status, labels=labels)


@pytest.fixture
def settings() -> dict:
    return serving_settings.defaults()


class FactHost:
    """Answers host.get_fact from a dict keyed by fact class name (values may be callables of
    the fact's keyword arguments) and records noop messages."""

    print_prefix = "[fact-host] "

    def __init__(self, facts: dict):
        self.facts = facts
        self.noops: list[str] = []

    def get_fact(self, cls, *args, **kwargs):
        value = self.facts[cls.__name__]
        return value(*args, **kwargs) if callable(value) else value

    def noop(self, message: str) -> None:
        self.noops.append(message)

    def get_temp_filename(self, *args, **kwargs) -> str:
        return "/tmp/pyinfra-upload"


@contextmanager
def on_host(facts: dict):
    fake = FactHost(facts)
    with ctx_host.use(fake):
        yield fake


def commands_of(op, *args, facts: dict, **kwargs) -> tuple[list, list[str]]:
    """Runs an operation's body against the facts: (commands yielded, noop messages)."""
    with on_host(facts) as fake:
        commands = list(op._inner(*args, **kwargs))
    return [str(c) if isinstance(c, (str, StringCommand)) else c for c in commands], fake.noops
