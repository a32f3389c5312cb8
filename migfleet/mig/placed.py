"""The placed layout: what one GPU holds, in terms that survive a reboot.

One value serves the desired target (the planner's), the live state (read off the GPU), the
boot record (written by the deploy, replayed at boot) and every comparison (deploy, spec suite,
drift, export): two layouts are the same exactly when they are equal.

A GPU instance is (profile ID, first memory slice) with the profile IDs of its compute
instances; driver-assigned GI/CI ids and MIG UUIDs change at every re-creation and are not
part of it.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from migfleet.mig.geometry import Geometry, ci_name
from migfleet.mig.state import GpuState

ENABLED, DISABLED = "enabled", "disabled"
ENABLE_PENDING, DISABLE_PENDING = "disabled, enable pending", "enabled, disable pending"


@dataclass(frozen=True, order=True)
class PlacedGi:
    start: int                  # first memory slice
    profile_id: int             # GPU instance profile ID (nvidia-smi "ID")
    cis: tuple[int, ...]        # compute instance profile IDs, sorted

    def to_json(self) -> dict:
        return {"profile": self.profile_id, "start": self.start, "cis": list(self.cis)}

    @classmethod
    def from_json(cls, data: Mapping) -> PlacedGi:
        return cls(int(data["start"]), int(data["profile"]), tuple(sorted(int(c) for c in data["cis"])))


@dataclass(frozen=True)
class GpuLayout:
    mode: str                           # ENABLED | DISABLED | ENABLE_PENDING | DISABLE_PENDING
    gis: tuple[PlacedGi, ...] = ()      # sorted by start; empty unless MIG is effective

    def __post_init__(self):
        if self.mode not in (ENABLED, DISABLED, ENABLE_PENDING, DISABLE_PENDING):
            raise ValueError(f"unknown MIG mode {self.mode!r}")
        object.__setattr__(self, "gis", tuple(sorted(self.gis)))

    @property
    def mig(self) -> bool:
        """MIG mode in effect now."""
        return self.mode in (ENABLED, DISABLE_PENDING)

    def at(self, start: int) -> PlacedGi | None:
        return next((g for g in self.gis if g.start == start), None)

    def to_json(self) -> dict:
        return {"mode": self.mode, "gis": [g.to_json() for g in self.gis]}

    @classmethod
    def from_json(cls, data: Mapping) -> GpuLayout:
        return cls(str(data["mode"]), tuple(PlacedGi.from_json(g) for g in data.get("gis", ())))


def mode_of(gpu: GpuState) -> str:
    if gpu.mig_current == gpu.mig_pending:
        return ENABLED if gpu.mig_current else DISABLED
    return DISABLE_PENDING if gpu.mig_current else ENABLE_PENDING


def live(gpu: GpuState) -> GpuLayout:
    """What the GPU holds now."""
    gis = tuple(PlacedGi(gi.start, gi.profile_id,
                         tuple(sorted(ci.profile_id for ci in gpu.compute_instances if ci.gi_id == gi.gi_id)))
                for gi in gpu.gpu_instances)
    return GpuLayout(mode_of(gpu), gis if gpu.mig_current else ())


# ---------------------------------------------------------------- words

def _gi_name(geometry: Geometry | None, pid: int) -> str:
    try:
        return geometry.profile(pid).name if geometry else f"profile {pid}"
    except KeyError:
        return f"profile {pid}"


def _ci_names(geometry: Geometry | None, gi: PlacedGi) -> list[str]:
    try:
        prof = geometry.profile(gi.profile_id) if geometry else None
    except KeyError:
        prof = None
    return [ci_name(prof, c) if prof else f"CI profile {c}" for c in gi.cis]


def gi_words(gi: PlacedGi, geometry: Geometry | None) -> str:
    """"3g.40gb (ID 9) at slice 4", with " with CIs 3 x 1c.3g.40gb" unless it has one full-size CI."""
    name = _gi_name(geometry, gi.profile_id)
    cis = _ci_names(geometry, gi)
    tail = "" if cis == [name] else f" with CIs {ci_words(cis)}"
    head = name if name.startswith("profile ") else f"{name} (ID {gi.profile_id})"
    return f"{head} at slice {gi.start}{tail}"


def ci_words(names) -> str:
    if not names:
        return "no compute instance"
    return ", ".join(f"{n} x {name}" for name, n in Counter(names).items())


def summary(layout: GpuLayout, geometry: Geometry | None) -> str:
    """"7 x 1g.5gb", "MIG enabled, no instances", "MIG disabled", ..."""
    if not layout.mig:
        return f"MIG {layout.mode}"
    if not layout.gis:
        return f"MIG {layout.mode}, no instances"
    counts = Counter(_gi_name(geometry, g.profile_id) for g in layout.gis)
    words = ", ".join(f"{n} x {name}" for name, n in counts.items())
    return words if layout.mode == ENABLED else f"{words} (MIG {layout.mode})"


def differences(want: GpuLayout, have: GpuLayout, geometry: Geometry | None) -> list[tuple[str, str, str]]:
    """(field, expected, found) for every difference; empty exactly when want == have."""
    out = []
    if want.mode != have.mode:
        out.append(("MIG mode", want.mode, have.mode))
        if want.mig != have.mig:
            return out      # the mode finding says it all: one side has no instances to compare
    for start in sorted({g.start for g in want.gis} | {g.start for g in have.gis}):
        a, b = want.at(start), have.at(start)
        if a == b:
            continue
        if a is not None and b is not None and a.profile_id == b.profile_id:
            out.append((f"compute instances of {_gi_name(geometry, a.profile_id)} at slice {start}",
                        ci_words(_ci_names(geometry, a)), ci_words(_ci_names(geometry, b))))
        else:
            out.append((f"GPU instance at slice {start}",
                        gi_words(a, geometry) if a else "none", gi_words(b, geometry) if b else "none"))
    if not out and want != have:     # guards the contract: no difference exactly when equal
        out.append(("MIG layout", repr(want), repr(have)))
    return out
