"""Every nvidia-smi command form migfleet sends to change a GPU (and the MIG mode query that follows
a mode change), beside the parse each needs."""
from __future__ import annotations

from migfleet.mig.smi.errors import ParseError
from migfleet.mig.smi.tables import parse_lgi

def enable_mig(idx: int | str) -> str:
    return f"nvidia-smi -i {idx} -mig 1"


def disable_mig(idx: int | str) -> str:
    return f"nvidia-smi -i {idx} -mig 0"


def reset_gpu(idx: int | str) -> str:
    return f"nvidia-smi --gpu-reset -i {idx}"


def mig_mode(idx: int | str) -> str:
    """One GPU's MIG mode read again right after `-mig` (Hopper and later: the change may already
    be in effect, and a reset is needed only if it is still pending). A query: nothing changes."""
    return f"nvidia-smi -i {idx} --query-gpu=mig.mode.current,mig.mode.pending --format=csv,noheader"


def parse_mig_mode(text: str) -> tuple[bool, bool]:
    """(current, pending) from `mig_mode` output: one line "Enabled, Disabled"."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if len(lines) != 1:
        raise ParseError("MIG mode query output", lines[0] if lines else "", "expected one line: current, pending")
    cells = [c.strip() for c in lines[0].split(",")]
    if len(cells) != 2 or any(c not in ("Enabled", "Disabled") for c in cells):
        raise ParseError("MIG mode query output", lines[0], "expected 'Enabled' or 'Disabled', twice")
    return cells[0] == "Enabled", cells[1] == "Enabled"


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
