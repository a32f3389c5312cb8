"""GPU models the simulated driver serves: migfleet's catalog (geometry, PCI device IDs), and the
lab's own `models.json` for what only the simulated hardware shows (PCI subsystem IDs).
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from migfleet.mig import catalog
from migfleet.mig.geometry import Geometry

LAB_MODELS = Path(__file__).with_name("models.json")
ComputeProfile = catalog.ComputeProfile


@lru_cache(maxsize=1)
def _lab() -> dict:
    return json.loads(LAB_MODELS.read_text(encoding="utf-8"))


def driver_version() -> str:
    return catalog.driver_version()


def all_models() -> list[str]:
    return catalog.all_models()


def lookup(model: str) -> Geometry | None:
    return catalog.lookup(model)


def pci_device_id(model: str) -> int:
    """PCI device ID (vendor 0x10de) of a model, e.g. 0x2330 for an H100 SXM5 80GB."""
    return catalog.device_id(model)


def pci_sub_system_id(model: str) -> int:
    """PCI subsystem device ID (vendor 0x10de) where known (the captures), else 0."""
    return int(_lab()["pci_sub_system_ids"].get(model, "0x0000"), 16)


def nvidia_smi_pci_ids(model: str) -> tuple[str, str]:
    """nvidia-smi's "Device Id" and "Sub System Id" (device << 16 | vendor), e.g. 233010DE."""
    return catalog.packed_id(model).removeprefix("0x"), f"{pci_sub_system_id(model):04X}{catalog.NVIDIA_VENDOR:04X}"


def compute_profiles(model: str, gi_profile: str | int) -> list[ComputeProfile]:
    return catalog.compute_profiles(model, gi_profile)


def compute_profile(model: str, gi_profile: str | int, ref: str | int | None) -> ComputeProfile:
    return catalog.compute_profile(model, gi_profile, ref)
