"""Built-in MIG geometries of the GPU models migfleet knows, read from catalog.json.

Standard library only: this module is also copied into lab hosts for the simulated driver.
H100/H200 numbers are the real captures in shared/fixtures; A100 numbers come from NVIDIA's
MIG User Guide (URLs in each model's "sources").
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from migfleet.mig.geometry import Geometry, Profile

CATALOG_PATH = Path(__file__).with_name("catalog.json")


@dataclass(frozen=True)
class ComputeProfile:
    """A compute instance profile inside one GPU instance profile (`nvidia-smi mig -lcip`)."""
    id: int                 # NVML compute instance profile ID (0=1 slice, 1=2, 2=3, 3=4, 4=7)
    name: str               # "1c.3g.40gb", or the GI's own name for the full-size default
    slices: int             # compute slices of the CI
    instances: int          # how many fit an empty GI
    sm: int
    is_default: bool        # the full-size CI, marked "*" by nvidia-smi
    placements: tuple[tuple[int, int], ...]   # (start, size) in compute slices within the GI


@lru_cache(maxsize=1)
def _raw() -> dict:
    with CATALOG_PATH.open(encoding="utf-8") as fh:
        return json.load(fh)


def driver_version() -> str:
    return _raw()["driver_version"]


def all_models() -> list[str]:
    return list(_raw()["models"])


def model_data(model_name: str) -> dict | None:
    """The catalog's raw entry for a model (architecture, memory_mib, gi_profiles, sources)."""
    return _raw()["models"].get(model_name)


# ---------------------------------------------------------------- model names and PCI IDs, as compared

NVIDIA_VENDOR = 0x10DE


def norm_model(name: str) -> str:
    """A model name as compared: case and the `NVIDIA ` prefix do not matter (early drivers print
    "A100-SXM4-40GB" in -L and "NVIDIA A100-SXM4-40GB" elsewhere)."""
    name = name.strip().lower()
    return name[len("nvidia "):] if name.startswith("nvidia ") else name


def model_named(name: str) -> str | None:
    """The catalog model a product name means (case and the `NVIDIA ` prefix optional), or None."""
    wanted = norm_model(name)
    return next((m for m in all_models() if norm_model(m) == wanted), None)


def bus_key(bus_id: str) -> str:
    """nvidia-smi prints 00000000:18:00.0, sysfs 0000:18:00.0: compare without the domain's padding."""
    domain, _, rest = bus_id.strip().lower().partition(":")
    return f"{int(domain, 16):x}:{rest}"


def device_id(model: str) -> int | None:
    """A model's PCI device ID (0x2330), by any spelling of its name; None when not recorded."""
    data = model_data(model_named(model) or model) or {}
    return int(data["pci_device_id"], 16) if data.get("pci_device_id") else None


def packed_id(model: str) -> str | None:
    """A model's PCI ID as nvidia-smi's "Device Id" and mig-parted's device-filter write it, device
    then vendor (`0x233010DE`); None when not recorded."""
    device = device_id(model)
    return None if device is None else f"0x{device:04X}{NVIDIA_VENDOR:04X}"


def device_id_of(text: str) -> int | None:
    """The device ID in 0x2330, or in the packed form 0x233010DE; None when the vendor half is not
    NVIDIA's (such an ID names no GPU)."""
    value = int(text, 16)
    if value > 0xFFFF:
        return value >> 16 if value & 0xFFFF == NVIDIA_VENDOR else None
    return value


@dataclass(frozen=True)
class DriverMinimum:
    """The oldest NVIDIA driver with MIG on a model, as NVIDIA's MIG user guide gives it."""
    version: str            # "550.90.07"
    source: str             # URL and table row


def driver_minimum(model_name: str) -> DriverMinimum | None:
    """The model's minimum driver for MIG; None for a model not in the catalog or without a published minimum."""
    data = model_data(model_name)
    entry = (data or {}).get("mig_driver_minimum") or {}
    return DriverMinimum(entry["version"], entry["source"]) if entry.get("version") else None


def version_key(version: str) -> tuple[int, ...] | None:
    """"550.90.07" -> (550, 90, 7), compared as numbers; None for text that is not dotted numbers."""
    parts = version.strip().split(".")
    return tuple(int(p) for p in parts) if all(p.isdigit() for p in parts) else None


def _profile(entry: dict) -> Profile:
    return Profile(
        id=entry["id"], name=entry["name"], slices=entry["slices"], instances=entry["instances"],
        memory_mib=entry["memory_mib"], sm=entry["sm"], ce=entry["ce"], dec=entry["dec"],
        enc=entry["enc"], jpeg=entry["jpeg"], ofa=entry["ofa"], p2p=entry["p2p"],
        placements=tuple((int(s), int(n)) for s, n in entry["placements"]),
        profile_index=entry["profile_index"],
    )


@lru_cache(maxsize=None)
def lookup(model_name: str) -> Geometry | None:
    data = model_data(model_name)
    if data is None:
        return None
    return Geometry(
        model=model_name,
        architecture=data["architecture"],
        memory_mib=data["memory_mib"],
        profiles=tuple(_profile(p) for p in data["gi_profiles"]),
        memory_slices=data["memory_slices"],
        compute_slices=data["compute_slices"],
        sources=tuple(data["sources"]),
    )


def _sm_for_size(geometry: Geometry, gi_profile: Profile, size: int) -> int:
    # A CI of `size` slices gets the SMs of the model's plain GI profile of that size
    # (A100: 14 per slice; H100: 16/32/60/64); the full-size CI gets all of the GI's SMs.
    if size == gi_profile.slices:
        return gi_profile.sm
    plain = [p for p in geometry.profiles if p.slices == size and "+" not in p.name]
    if plain:
        return min(p.sm for p in plain)
    return gi_profile.sm * size // gi_profile.slices


def compute_profiles(model_name: str, gi_profile: str | int) -> list[ComputeProfile]:
    """Compute instance profiles offered inside a GI of `gi_profile` (ID or name), in -lcip order."""
    geometry = lookup(model_name)
    if geometry is None:
        raise KeyError(f"unknown GPU model {model_name!r}")
    gi = geometry.profile(gi_profile)
    rules = _raw()["compute_profiles"]
    sizes = rules["sizes_by_gi_slices"].get(str(gi.slices))
    if sizes is None:
        raise KeyError(f"no compute instance profiles known for a {gi.slices}-slice GPU instance")
    out = []
    for size in sizes:
        # Any start the CI fits at (a 2c CI may follow a 1c one in a 3g GI); at most slices//size.
        starts = range(0, gi.slices - size + 1)
        default = size == gi.slices
        out.append(ComputeProfile(
            id=rules["profile_id_by_size"][str(size)],
            name=gi.name if default else f"{size}c.{gi.name}",
            slices=size,
            instances=gi.slices // size,
            sm=_sm_for_size(geometry, gi, size),
            is_default=default,
            placements=tuple((s, size) for s in starts),
        ))
    return out


def compute_profile(model_name: str, gi_profile: str | int, ref: str | int | None) -> ComputeProfile:
    """A CI profile by NVML ID, by name ("1c.3g.40gb", "MIG 3g.40gb"), or the default when ref is None."""
    profiles = compute_profiles(model_name, gi_profile)
    if ref is None:
        return next(p for p in profiles if p.is_default)
    if isinstance(ref, int) or str(ref).strip().isdigit():
        wanted = int(ref)
        for p in profiles:
            if p.id == wanted:
                return p
        raise KeyError(f"no compute instance profile with ID {wanted}")
    name = str(ref).strip()
    if name.startswith("MIG "):
        name = name[4:]
    for p in profiles:
        if p.name == name:
            return p
    raise KeyError(f"no compute instance profile named {name!r}")
