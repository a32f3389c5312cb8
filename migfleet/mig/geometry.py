"""MIG geometry of one GPU model: its GPU instance profiles and their placements.

Placements are (start, size) in memory slices, as `nvidia-smi mig -lgipp` prints them
(`{0,4}:4` means starts 0 and 4, size 4). Two instances may coexist when their
[start, start + size) ranges do not overlap.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Profile:
    id: int                 # GPU instance profile ID (nvidia-smi "ID" column, NVML info.id)
    name: str               # short name without the "MIG " prefix, e.g. "1g.5gb"
    slices: int             # compute slices (NVML sliceCount)
    instances: int          # instances of this profile that fit an empty GPU
    memory_mib: int         # NVML memorySizeMB
    sm: int
    ce: int
    dec: int
    enc: int
    jpeg: int
    ofa: int
    p2p: bool = False
    placements: tuple[tuple[int, int], ...] = ()
    profile_index: int | None = None   # NVML profile index (NVML_GPU_INSTANCE_PROFILE_*), if known

    @property
    def full_name(self) -> str:
        return f"MIG {self.name}"


@dataclass(frozen=True)
class Geometry:
    model: str                      # product name as nvidia-smi prints it
    architecture: str               # "Ampere" or "Hopper"
    memory_mib: int                 # memory.total as nvidia-smi reports it
    profiles: tuple[Profile, ...]
    memory_slices: int = 8
    compute_slices: int = 7
    sources: tuple[str, ...] = field(default=(), compare=False)

    @property
    def keeps_mig_mode_across_reboot(self) -> bool:
        # MIG user guide: Ampere (A100, A30) applies a MIG mode change at the next GPU reset and
        # keeps it in the InfoROM; Hopper and later apply it at once and lose it at reboot.
        return self.architecture == "Ampere"

    def profile(self, ref: str | int) -> Profile:
        """Profile by ID (int or digit string) or name ("1g.5gb" or "MIG 1g.5gb")."""
        if isinstance(ref, int) or (isinstance(ref, str) and ref.strip().isdigit()):
            wanted = int(ref)
            for p in self.profiles:
                if p.id == wanted:
                    return p
            raise KeyError(f"no GPU instance profile with ID {wanted} on {self.model}")
        name = ref.strip()
        if name.startswith("MIG "):
            name = name[4:]
        for p in self.profiles:
            if p.name == name:
                return p
        raise KeyError(f"no GPU instance profile named {name!r} on {self.model}")


# NVML_COMPUTE_INSTANCE_PROFILE_<N>_SLICE values (nvml.h), keyed by compute slice count.
CI_PROFILE_ID = {1: 0, 2: 1, 3: 2, 4: 3, 7: 4, 8: 5, 6: 6}
CI_SLICES = {v: k for k, v in CI_PROFILE_ID.items()}


def default_ci(profile: Profile) -> int:
    """The full-size compute instance profile ID of a GPU instance profile."""
    return CI_PROFILE_ID.get(profile.slices, 0)


def ci_name(profile: Profile, ci_id: int) -> str:
    """"3g.40gb" for the full-size CI of a 3g.40gb GI, "1c.3g.40gb" for a one-slice CI in it."""
    slices = CI_SLICES.get(ci_id)
    if slices is None:
        return f"CI profile {ci_id}"
    return profile.name if slices == profile.slices else f"{slices}c.{profile.name}"
