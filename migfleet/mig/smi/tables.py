"""nvidia-smi's box tables (`mig -lgip`, `-lgipp`, `-lgi`, `-lci`) and a geometry from them."""
from __future__ import annotations

import re
from dataclasses import dataclass

from migfleet.mig.geometry import Geometry, Profile
from migfleet.mig.smi import check
from migfleet.mig.smi.errors import _NOT_FOUND, NO_MIG_DEVICES, ParseError
from migfleet.mig.state import ComputeInstance, GpuInstance

# ---------------------------------------------------------------- box tables

_BORDER = re.compile(r"^\+[-=+]*\+$")
_SEPARATOR = re.compile(r"^\|=+\|$")


def _table_rows(text: str, what: str, title: str) -> list[str] | None:
    """Data rows (inner text between the outer bars) of one nvidia-smi box table.

    Returns None when the command reported that nothing exists (no MIG GPU, no instances).
    """
    lines = [ln.rstrip() for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise ParseError(what, "", "empty output")
    if len(lines) == 1 and (lines[0].strip() == NO_MIG_DEVICES or _NOT_FOUND.match(lines[0].strip())):
        return None
    rows: list[str] = []
    in_body = False
    for line in lines:
        s = line.strip()
        if _BORDER.match(s):
            continue
        if _SEPARATOR.match(s):
            in_body = True
            continue
        if not (s.startswith("|") and s.endswith("|")):
            raise ParseError(what, line)
        inner = s[1:-1].strip()
        if not in_body:
            continue  # title and column headings
        if _NOT_FOUND.match(inner):
            return None
        rows.append(inner)
    if not in_body or not any(title in ln for ln in lines):
        raise ParseError(what, lines[0], f"no {title!r} table")
    if not _BORDER.match(lines[-1].strip()):
        # nvidia-smi closes every row with a border: output that ends on a row was cut short.
        raise ParseError(what, lines[-1], "table cut short: no closing border")
    return rows


# ---------------------------------------------------------------- mig -lgip / -lgipp

@dataclass(frozen=True)
class LgipRow:
    gpu: int
    name: str
    id: int
    free: int
    total: int
    memory_gib: float
    p2p: bool
    sm: int
    dec: int
    enc: int
    ce: int
    jpeg: int
    ofa: int


_LGIP_1 = re.compile(r"^(\d+)\s+MIG (\S+)\s+(\d+)\s+(\d+)/(\d+)\s+([\d.]+)\s+(Yes|No)\s+(\d+)\s+(\d+)\s+(\d+)$")
_LGIP_2 = re.compile(r"^(\d+)\s+(\d+)\s+(\d+)$")


def parse_lgip(text: str) -> list[LgipRow]:
    """`nvidia-smi mig -lgip`: two table lines per profile."""
    rows = _table_rows(text, "mig -lgip output", "GPU instance profiles:")
    out: list[LgipRow] = []
    for first, second in _pairs(rows or [], "mig -lgip output"):
        a, b = _LGIP_1.match(first), _LGIP_2.match(second)
        if not a:
            raise ParseError("mig -lgip output", first)
        if not b:
            raise ParseError("mig -lgip output", second)
        out.append(LgipRow(int(a[1]), a[2], int(a[3]), int(a[4]), int(a[5]), float(a[6]),
                           a[7] == "Yes", int(a[8]), int(a[9]), int(a[10]),
                           int(b[1]), int(b[2]), int(b[3])))
    return out


def _pairs(rows: list[str], what: str) -> list[tuple[str, str]]:
    if len(rows) % 2:
        raise ParseError(what, rows[-1], "profile row without its second line")
    return list(zip(rows[::2], rows[1::2]))


_LGIPP = re.compile(r"^GPU\s+(\d+) Profile ID\s+(\d+) Placements?\s*: \{([\d,]*)\}:(\d+)$")


def parse_lgipp(text: str) -> dict[tuple[int, int], tuple[tuple[int, int], ...]]:
    """`nvidia-smi mig -lgipp` -> {(gpu index, profile id): ((start, size), ...)}."""
    out: dict[tuple[int, int], tuple[tuple[int, int], ...]] = {}
    for line in text.splitlines():
        s = line.strip()
        if not s:
            continue
        m = _LGIPP.match(s)
        if not m:
            raise ParseError("mig -lgipp output", line)
        size = int(m[4])
        out[(int(m[1]), int(m[2]))] = tuple((int(x), size) for x in m[3].split(",") if x)
    return out


def _last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else ""


def architecture_of(model: str) -> str:
    """Best guess of the architecture from the product name (for geometries read off a host)."""
    if re.search(r"\b(A100|A30)\b", model):
        return "Ampere"
    if re.search(r"\b(H100|H200|H20|H800|GH200)\b", model):
        return "Hopper"
    if re.search(r"\b(B200|B100|GB200|RTX PRO)\b", model):
        return "Blackwell"
    return "unknown"


def geometry_from_lgip(lgip: str, lgipp: str, model: str, memory_mib: int,
                       gpu: int = 0, architecture: str | None = None) -> Geometry:
    """Geometry of one GPU from its `-lgip` and `-lgipp` listings (models not in the catalog).

    Memory sizes come from the GiB column (two decimals), so they are approximate.
    """
    placements = parse_lgipp(lgipp)
    rows = [r for r in parse_lgip(lgip) if r.gpu == gpu]
    # Each listing is checked against the other (and the catalog): one cut at a row border parses.
    check.check_profiles(model, gpu, [(r.id, r.name, r.total) for r in rows],
                         [pid for g, pid in placements if g == gpu], _last_line(lgip))
    profiles = []
    for r in rows:
        pl = placements.get((gpu, r.id))
        if pl is None:
            raise ParseError("mig -lgipp output", lgipp.strip().splitlines()[0] if lgipp.strip() else "",
                             f"no placements for profile ID {r.id} on GPU {gpu}")
        profiles.append(Profile(id=r.id, name=r.name, slices=int(r.name.split("g.")[0]),
                                instances=r.total, memory_mib=round(r.memory_gib * 1024), sm=r.sm,
                                ce=r.ce, dec=r.dec, enc=r.enc, jpeg=r.jpeg, ofa=r.ofa, p2p=r.p2p,
                                placements=pl))
    if not profiles:
        raise ParseError("mig -lgip output", lgip.strip().splitlines()[0] if lgip.strip() else "",
                         f"no profiles for GPU {gpu}")
    slices = max(s + n for p in profiles for s, n in p.placements)
    return Geometry(model=model, architecture=architecture or architecture_of(model),
                    memory_mib=memory_mib, profiles=tuple(profiles), memory_slices=slices,
                    compute_slices=max(p.slices for p in profiles),
                    sources=("nvidia-smi mig -lgip", "nvidia-smi mig -lgipp"))


# ---------------------------------------------------------------- mig -lgi / -lci

_LGI = re.compile(r"^(\d+)\s+MIG (\S+)\s+(\d+)\s+(\d+)\s+(\d+):(\d+)$")
_LCI = re.compile(r"^(\d+)\s+(\d+)\s+MIG (\S+)\s+(\d+)\s+(\d+)(?:\s+(\d+):(\d+))?$")


def parse_lgi(text: str) -> list[tuple[int, GpuInstance]]:
    """`nvidia-smi mig -lgi` -> [(gpu index, GpuInstance)]; none when MIG is off everywhere."""
    out = []
    for row in _table_rows(text, "mig -lgi output", "GPU instances:") or []:
        m = _LGI.match(row)
        if not m:
            raise ParseError("mig -lgi output", row)
        out.append((int(m[1]), GpuInstance(gi_id=int(m[4]), profile_id=int(m[3]), name=m[2],
                                           start=int(m[5]), size=int(m[6]))))
    return out


def parse_lci(text: str) -> list[tuple[int, ComputeInstance]]:
    """`nvidia-smi mig -lci` -> [(gpu index, ComputeInstance)].

    Drivers that print no placement column give start 0, size 0.
    """
    out = []
    for row in _table_rows(text, "mig -lci output", "Compute instances:") or []:
        m = _LCI.match(row)
        if not m:
            raise ParseError("mig -lci output", row)
        out.append((int(m[1]), ComputeInstance(gi_id=int(m[2]), ci_id=int(m[5]), profile_id=int(m[4]),
                                               name=m[3], start=int(m[6] or 0), size=int(m[7] or 0))))
    return out
