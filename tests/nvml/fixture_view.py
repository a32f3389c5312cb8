"""Render an nvml.view (lab/nvml/VIEW_FORMAT.md) from a captured nvml_profiles.json."""

from __future__ import annotations

PROFILE_FIELDS = ("id", "isP2pSupported", "sliceCount", "instanceCount", "multiprocessorCount",
                  "copyEngineCount", "decoderCount", "encoderCount", "jpegCount", "ofaCount",
                  "memorySizeMB", "name")


def record(*fields) -> str:
    return "\t".join(str(f) for f in fields) + "\n"


def gpu_records(capture: dict, index: int, bus_id: str, mig_mode=None) -> str:
    current, pending = mig_mode if mig_mode is not None else capture["mig_mode"]
    lines = [record("gpu", index, capture["uuid"], capture["name"], bus_id, current, pending,
                    capture["memory_total"])]
    for profile in capture["profiles"]:
        if "error" in profile:
            continue
        placements = ",".join(f"{start}:{size}" for start, size in profile["placements"])
        lines.append(record("profile", index, profile["profile_index"],
                            *(profile[f] for f in PROFILE_FIELDS), placements))
    return "".join(lines)


def view_text(captures: list[dict], extra: str = "") -> str:
    """One gpu per capture (index = position), all captures sharing the first one's driver."""
    text = record("driver", captures[0]["driver"])
    for index, capture in enumerate(captures):
        text += gpu_records(capture, index, f"00000000:{index:02X}:06.0")
    return text + extra
