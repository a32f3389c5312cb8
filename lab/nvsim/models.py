"""GPU models the simulated driver serves: migfleet's catalog plus the lab's own `models.json`.

migfleet's catalog holds the models it plans for from captures; `models.json` adds models the
lab serves from NVIDIA's published tables (sources per model) and the PCI device ID of every
model, which the lab's sysfs shows and NVIDIA's tools (mig-parted's device-filter) select on.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from migfleet.mig import catalog
from migfleet.mig.geometry import Geometry, Profile

LAB_MODELS = Path(__file__).with_name("models.json")
ComputeProfile = catalog.ComputeProfile


@lru_cache(maxsize=1)
def _lab() -> dict:
    return json.loads(LAB_MODELS.read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def _rules() -> dict:
    return json.loads(Path(catalog.CATALOG_PATH).read_text(encoding="utf-8"))["compute_profiles"]


def driver_version() -> str:
    return catalog.driver_version()


def all_models() -> list[str]:
    return list(dict.fromkeys([*catalog.all_models(), *_lab()["models"]]))


def _profile(entry: dict) -> Profile:
    return Profile(id=entry["id"], name=entry["name"], slices=entry["slices"], instances=entry["instances"],
                   memory_mib=entry["memory_mib"], sm=entry["sm"], ce=entry["ce"], dec=entry["dec"],
                   enc=entry["enc"], jpeg=entry["jpeg"], ofa=entry["ofa"], p2p=entry["p2p"],
                   placements=tuple((int(s), int(n)) for s, n in entry["placements"]),
                   profile_index=entry["profile_index"])


@lru_cache(maxsize=None)
def lookup(model: str) -> Geometry | None:
    geo = catalog.lookup(model)
    if geo is not None:
        return geo
    data = _lab()["models"].get(model)
    if data is None:
        return None
    return Geometry(model=model, architecture=data["architecture"], memory_mib=data["memory_mib"],
                    profiles=tuple(_profile(p) for p in data["gi_profiles"]),
                    memory_slices=data["memory_slices"], compute_slices=data["compute_slices"],
                    sources=tuple(data["sources"]))


def pci_device_id(model: str) -> int:
    """PCI device ID (vendor 0x10de) of a model, e.g. 0x2330 for an H100 SXM5 80GB."""
    return int(_lab()["pci_device_ids"][model], 16)


def pci_sub_system_id(model: str) -> int:
    """PCI subsystem device ID (vendor 0x10de) where known (the captures), else 0."""
    return int(_lab()["pci_sub_system_ids"].get(model, "0x0000"), 16)


def nvidia_smi_pci_ids(model: str) -> tuple[str, str]:
    """nvidia-smi's "Device Id" and "Sub System Id" (device << 16 | vendor), e.g. 233010DE."""
    return f"{pci_device_id(model):04X}10DE", f"{pci_sub_system_id(model):04X}10DE"


def mode_change_needs_reset(geo: Geometry) -> bool:
    # MIG user guide: Ampere (A100, A30) applies a MIG mode change at the next GPU reset and keeps
    # it in the InfoROM; Hopper and later apply it at once and lose it when the driver unloads.
    return geo.architecture == "Ampere"


def compute_profiles(model: str, gi_profile: str | int) -> list[ComputeProfile]:
    """CI profiles inside a GI of `gi_profile`, in -lcip order (catalog rules for every model)."""
    if catalog.lookup(model) is not None:
        return catalog.compute_profiles(model, gi_profile)
    geo = lookup(model)
    if geo is None:
        raise KeyError(f"unknown GPU model {model!r}")
    gi = geo.profile(gi_profile)
    rules = _rules()
    out = []
    for size in rules["sizes_by_gi_slices"][str(gi.slices)]:
        default = size == gi.slices
        plain = [p.sm for p in geo.profiles if p.slices == size and "+" not in p.name]
        sm = gi.sm if default else (min(plain) if plain else gi.sm * size // gi.slices)
        out.append(ComputeProfile(id=rules["profile_id_by_size"][str(size)],
                                  name=gi.name if default else f"{size}c.{gi.name}", slices=size,
                                  instances=gi.slices // size, sm=sm, is_default=default,
                                  placements=tuple((s, size) for s in range(gi.slices - size + 1))))
    return out


def compute_profile(model: str, gi_profile: str | int, ref: str | int | None) -> ComputeProfile:
    if catalog.lookup(model) is not None:
        return catalog.compute_profile(model, gi_profile, ref)
    profiles = compute_profiles(model, gi_profile)
    if ref is None:
        return next(p for p in profiles if p.is_default)
    text = str(ref).strip()
    for p in profiles:
        if (text.isdigit() and p.id == int(text)) or p.name == text.removeprefix("MIG "):
            return p
    raise KeyError(f"no compute instance profile {ref!r}")
