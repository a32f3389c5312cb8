"""Every nvidia-smi command form migfleet sends to change a GPU, beside the parse it needs."""
from __future__ import annotations

from migfleet.mig.smi.errors import ParseError
from migfleet.mig.smi.tables import parse_lgi

def enable_mig(idx: int | str) -> str:
    return f"nvidia-smi -i {idx} -mig 1"


def disable_mig(idx: int | str) -> str:
    return f"nvidia-smi -i {idx} -mig 0"


def reset_gpu(idx: int | str) -> str:
    return f"nvidia-smi --gpu-reset -i {idx}"


def destroy_ci(idx: int | str, gi: int, ci: int) -> str:
    return f"nvidia-smi mig -i {idx} -dci -gi {gi} -ci {ci}"


def destroy_gi(idx: int | str, gi: int) -> str:
    return f"nvidia-smi mig -i {idx} -dgi -gi {gi}"


def create_gis(idx: int | str, places, default_ci: bool) -> str:
    """GPU instances at explicit places ((profile ID, start), ...); `-C` adds each one full CI."""
    spec = ",".join(f"{pid}:{start}" for pid, start in places)
    return f"nvidia-smi mig -i {idx} -cgi {spec}" + (" -C" if default_ci else "")


def create_cis(idx: int | str, gi: int, ci_profiles) -> str:
    return f"nvidia-smi mig -i {idx} -gi {gi} -cci {','.join(str(c) for c in ci_profiles)}"


def list_gis(idx: int | str) -> str:
    return f"nvidia-smi mig -i {idx} -lgi"


def gi_id_at(lgi_text: str, idx: int, start: int) -> int:
    """ID of the GPU instance that starts at `start` on GPU `idx`, from `mig -lgi` output."""
    found = [gi.gi_id for i, gi in parse_lgi(lgi_text) if i == idx and gi.start == start]
    if len(found) != 1:
        raise ParseError("mig -lgi output", lgi_text.strip().splitlines()[0] if lgi_text.strip() else "",
                         f"expected one GPU instance at slice {start} of GPU {idx}, found {len(found)}")
    return found[0]
