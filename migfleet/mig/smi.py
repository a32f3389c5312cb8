"""Pure parsers of nvidia-smi output, and the one-round-trip snapshot built from them.

Formats follow real captures (../shared/fixtures, MIG disabled) and, for MIG-enabled output,
NVIDIA's MIG user guide examples:
https://docs.nvidia.com/datacenter/tesla/mig-user-guide/getting-started-with-mig.html
(`-lgip`, `-lgipp`, `-lgi`, `-lci`, `-lcip`, `-L` with MIG devices) and the `nvidia-smi -q -x`
schema (nvsmi_device_v12.dtd: `mig_devices/mig_device/{index,gpu_instance_id,compute_instance_id}`,
`processes/process_info/{gpu_instance_id,compute_instance_id,pid,process_name,used_memory}`).
Newer drivers add a `Placement Start:Size` column to `-lci`; both forms are accepted.

Anything that does not match raises `ParseError` quoting the offending line.
"""
from __future__ import annotations

import csv
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from migfleet.mig.geometry import Geometry, Profile
from migfleet.mig.state import ComputeInstance, GpuInstance, GpuProcess, GpuState, MigDevice

NO_MIG_DEVICES = "No MIG-enabled devices found."
_NOT_FOUND = re.compile(r"^No (GPU|compute) instances found(:.*)?$")


class ParseError(ValueError):
    """Output that does not look like what the command prints; the message quotes it."""

    def __init__(self, what: str, line: str, detail: str = ""):
        self.what, self.line = what, line
        extra = f" ({detail})" if detail else ""
        super().__init__(f"cannot parse {what}: unexpected line {line!r}{extra}")


class DriverUnavailable(ParseError):
    """nvidia-smi is missing or cannot talk to the driver: the GPU state is unknown, not empty."""

    def __init__(self, detail: str):
        self.what, self.line = "nvidia-smi", detail
        ValueError.__init__(self, f"NVIDIA driver unavailable: {detail}")


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


# ---------------------------------------------------------------- --query-gpu

QUERY_FIELDS = ("index", "uuid", "name", "pci.bus_id", "mig.mode.current", "mig.mode.pending",
                "memory.total", "driver_version")


@dataclass(frozen=True)
class QueryRow:
    index: int
    uuid: str
    name: str
    pci_bus_id: str
    mig_current: bool
    mig_pending: bool
    memory_mib: int | None
    driver_version: str


def _mode(value: str, line: str) -> bool:
    v = value.strip()
    if v == "Enabled":
        return True
    if v in ("Disabled", "[N/A]", "N/A"):     # [N/A]: a GPU without MIG support
        return False
    raise ParseError("--query-gpu output", line, f"MIG mode {v!r}")


def parse_query_gpu(text: str) -> list[QueryRow]:
    """`--query-gpu=<QUERY_FIELDS> --format=csv[,noheader][,nounits]` -> one row per GPU."""
    rows = []
    for line in text.splitlines():
        if not line.strip():
            continue
        cells = next(csv.reader([line], skipinitialspace=True))
        cells = [c.strip() for c in cells]
        if cells and cells[0] == "index":
            names = [c.split(" [")[0] for c in cells]
            if tuple(names) != QUERY_FIELDS:
                raise ParseError("--query-gpu header", line, f"expected {','.join(QUERY_FIELDS)}")
            continue
        if len(cells) != len(QUERY_FIELDS) or not cells[0].isdigit():
            raise ParseError("--query-gpu output", line, f"expected {len(QUERY_FIELDS)} fields")
        mem = cells[6].removesuffix(" MiB").strip()
        if mem and not mem.isdigit() and mem not in ("[N/A]", "N/A"):
            raise ParseError("--query-gpu output", line, f"memory.total {cells[6]!r}")
        rows.append(QueryRow(int(cells[0]), cells[1], cells[2], cells[3], _mode(cells[4], line),
                             _mode(cells[5], line), int(mem) if mem.isdigit() else None, cells[7]))
    return rows


# ---------------------------------------------------------------- -L

@dataclass(frozen=True)
class ListedMigDevice:
    name: str           # "3g.20gb"
    device_index: int   # "Device  0" (same index as -q -x mig_device/index)
    uuid: str


@dataclass(frozen=True)
class ListedGpu:
    index: int
    name: str
    uuid: str
    mig_devices: tuple[ListedMigDevice, ...] = ()


_L_GPU = re.compile(r"^GPU (\d+): (.+) \(UUID: (GPU-[0-9a-fA-F-]+)\)$")
# MIG UUIDs: "MIG-<uuid>", or "MIG-GPU-<gpu uuid>/<gi>/<ci>" as early A100 drivers (R450) print them.
_L_MIG = re.compile(r"^MIG (\S+)\s+Device\s+(\d+): \(UUID: (MIG-(?:GPU-[0-9a-fA-F-]+/\d+/\d+|[0-9a-fA-F-]+))\)$")


def parse_list(text: str) -> list[ListedGpu]:
    """`nvidia-smi -L`: GPUs, each with the MIG device lines that follow it."""
    gpus: list[ListedGpu] = []
    for line in text.splitlines():
        s = line.strip()
        if not s:
            continue
        if m := _L_GPU.match(s):
            gpus.append(ListedGpu(int(m[1]), m[2], m[3]))
        elif (m := _L_MIG.match(s)) and gpus:
            g = gpus[-1]
            dev = ListedMigDevice(m[1], int(m[2]), m[3])
            gpus[-1] = ListedGpu(g.index, g.name, g.uuid, g.mig_devices + (dev,))
        else:
            raise ParseError("nvidia-smi -L output", line)
    return gpus


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
    profiles = []
    for r in parse_lgip(lgip):
        if r.gpu != gpu:
            continue
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


# ---------------------------------------------------------------- mig -lgi / -lci / -lcip

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


@dataclass(frozen=True)
class CiProfile:
    gpu: int
    gi_id: int
    name: str           # "1c.3g.20gb", or the GI's name for the full-size profile
    id: int
    is_default: bool    # marked "*" by nvidia-smi
    free: int
    total: int
    sm: int
    dec: int
    enc: int
    ofa: int
    ce: int
    jpeg: int


_LCIP_1 = re.compile(r"^(\d+)\s+(\d+)\s+MIG (\S+)\s+(\d+)(\*?)\s+(\d+)/(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)$")
_LCIP_2 = re.compile(r"^(\d+)\s+(\d+)$")


def parse_lcip(text: str) -> list[CiProfile]:
    """`nvidia-smi mig -lcip`: compute instance profiles per GPU instance."""
    out = []
    rows = _table_rows(text, "mig -lcip output", "Compute instance profiles:")
    for first, second in _pairs(rows or [], "mig -lcip output"):
        a, b = _LCIP_1.match(first), _LCIP_2.match(second)
        if not a:
            raise ParseError("mig -lcip output", first)
        if not b:
            raise ParseError("mig -lcip output", second)
        out.append(CiProfile(int(a[1]), int(a[2]), a[3], int(a[4]), a[5] == "*", int(a[6]), int(a[7]),
                             int(a[8]), int(a[9]), int(a[10]), int(a[11]), int(b[1]), int(b[2])))
    return out


# ---------------------------------------------------------------- -q -x

@dataclass(frozen=True)
class XmlGpu:
    uuid: str
    name: str
    pci_bus_id: str
    mig_current: bool | None      # None: the GPU has no MIG support ("N/A")
    mig_pending: bool | None
    mig_devices: tuple[tuple[int, int, int], ...]   # (device index, gi id, ci id)
    processes: tuple[GpuProcess, ...]


def _text(el: ET.Element, path: str) -> str:
    found = el.find(path)
    return (found.text or "").strip() if found is not None else ""


def _xml_mode(value: str) -> bool | None:
    if value in ("Enabled", "Disabled"):
        return value == "Enabled"
    if value in ("N/A", ""):
        return None
    raise ParseError("nvidia-smi -q -x output", f"<current_mig>{value}</current_mig>")


def _opt_int(value: str, what: str) -> int | None:
    if value in ("N/A", ""):
        return None
    if not value.isdigit():
        raise ParseError("nvidia-smi -q -x output", value, what)
    return int(value)


def parse_query_xml(text: str) -> dict[str, XmlGpu]:
    """`nvidia-smi -q -x` -> {uuid: XmlGpu} with MIG mode, MIG devices and processes."""
    try:
        root = ET.fromstring(text.strip())
    except ET.ParseError as exc:
        line = text.strip().splitlines()[exc.position[0] - 1] if text.strip() else ""
        raise ParseError("nvidia-smi -q -x output", line, str(exc)) from None
    if root.tag != "nvidia_smi_log":
        raise ParseError("nvidia-smi -q -x output", f"<{root.tag}>", "expected <nvidia_smi_log>")
    out = {}
    for gpu in root.findall("gpu"):
        devices = []
        for d in gpu.findall("mig_devices/mig_device"):
            ids = [_opt_int(_text(d, t), t) for t in ("index", "gpu_instance_id", "compute_instance_id")]
            if None in ids:
                raise ParseError("nvidia-smi -q -x output", ET.tostring(d, "unicode")[:200],
                                 "mig_device without index/gpu_instance_id/compute_instance_id")
            devices.append(tuple(ids))
        procs = []
        for p in gpu.findall("processes/process_info"):
            pid = _opt_int(_text(p, "pid"), "pid")
            if pid is None:
                raise ParseError("nvidia-smi -q -x output", ET.tostring(p, "unicode")[:200], "no pid")
            mem = _text(p, "used_memory").removesuffix(" MiB")
            procs.append(GpuProcess(pid=pid, name=_text(p, "process_name"),
                                    gi_id=_opt_int(_text(p, "gpu_instance_id"), "gpu_instance_id"),
                                    ci_id=_opt_int(_text(p, "compute_instance_id"), "compute_instance_id"),
                                    used_memory_mib=_opt_int(mem, "used_memory")))
        uuid = _text(gpu, "uuid")
        out[uuid] = XmlGpu(uuid=uuid, name=_text(gpu, "product_name"), pci_bus_id=gpu.get("id", ""),
                           mig_current=_xml_mode(_text(gpu, "mig_mode/current_mig")),
                           mig_pending=_xml_mode(_text(gpu, "mig_mode/pending_mig")),
                           mig_devices=tuple(devices), processes=tuple(procs))
    return out


# ---------------------------------------------------------------- wide snapshot

MARK = "@@migfleet"
SNAPSHOT_SECTIONS = (
    ("query", "nvidia-smi --query-gpu=" + ",".join(QUERY_FIELDS) + " --format=csv,noheader,nounits"),
    ("list", "nvidia-smi -L"),
    ("lgi", "nvidia-smi mig -lgi"),
    ("lci", "nvidia-smi mig -lci"),
    ("xml", "nvidia-smi -q -x"),
)
# One shell round trip. Each section: "@@migfleet <name>", the output (stderr folded in so errors
# are quoted), then "@@migfleet rc=<exit code>". The command itself always exits 0.
SNAPSHOT_COMMAND = (
    f"if ! command -v nvidia-smi >/dev/null 2>&1; then echo '{MARK} nvidia-smi-missing'; exit 0; fi; "
    + " ".join(f"echo '{MARK} {name}'; {cmd} 2>&1; echo \"{MARK} rc=$?\";" for name, cmd in SNAPSHOT_SECTIONS)
    + " exit 0"
)


def split_snapshot(text: str) -> dict[str, tuple[int, str]]:
    """Snapshot text -> {section: (exit code, output)}; raises DriverUnavailable without nvidia-smi."""
    sections: dict[str, tuple[int, str]] = {}
    name: str | None = None
    body: list[str] = []
    for line in text.splitlines():
        if not line.startswith(MARK + " "):
            if name is None:
                if line.strip():
                    raise ParseError("migfleet snapshot", line, "output outside any section")
                continue
            body.append(line)
            continue
        word = line[len(MARK) + 1:].strip()
        if word == "nvidia-smi-missing":
            raise DriverUnavailable("nvidia-smi not found on the host (is the NVIDIA driver installed?)")
        if word.startswith("rc="):
            if name is None or not word[3:].isdigit():
                raise ParseError("migfleet snapshot", line, "rc marker outside a section")
            sections[name] = (int(word[3:]), "\n".join(body))
            name, body = None, []
        elif name is None and word in dict(SNAPSHOT_SECTIONS):
            name = word
        else:
            raise ParseError("migfleet snapshot", line, "unknown or nested section")
    missing = [n for n, _ in SNAPSHOT_SECTIONS if n not in sections]
    if name is not None or missing:
        raise ParseError("migfleet snapshot", text.strip().splitlines()[-1] if text.strip() else "",
                         f"incomplete: missing section(s) {', '.join(missing) or name}")
    return sections


def _mig_listing(section: tuple[int, str], parse, what: str):
    rc, out = section
    stripped = out.strip()
    if stripped == NO_MIG_DEVICES or _NOT_FOUND.match(stripped):
        return []
    if rc != 0:
        raise ParseError(what, stripped.splitlines()[0] if stripped else "", f"exit code {rc}")
    return parse(out)


def parse_snapshot(text: str) -> dict[str, GpuState]:
    """Output of SNAPSHOT_COMMAND -> {uuid: GpuState} in index order."""
    sec = split_snapshot(text)
    rc, query_out = sec["query"]
    if rc != 0:
        raise DriverUnavailable(f"nvidia-smi exited {rc}: {query_out.strip()!r}")
    for name in ("list", "xml"):
        if sec[name][0] != 0:
            raise ParseError(f"nvidia-smi {name} section", sec[name][1].strip()[:200], f"exit code {sec[name][0]}")
    rows = parse_query_gpu(query_out)
    listing = parse_list(sec["list"][1])
    listed = {g.uuid: g for g in listing}
    xml = parse_query_xml(sec["xml"][1])
    gis = _mig_listing(sec["lgi"], parse_lgi, "mig -lgi output")
    cis = _mig_listing(sec["lci"], parse_lci, "mig -lci output")
    # Sections are read one after another: they must agree before anything is planned on them.
    from migfleet.mig import snapshot_check     # it raises this module's ParseError
    snapshot_check.check_gpus(rows, listing, xml)
    snapshot_check.check_instances(rows, gis, cis)
    states: dict[str, GpuState] = {}
    for row in sorted(rows, key=lambda r: r.index):
        if row.uuid not in listed or row.uuid not in xml:
            raise ParseError("migfleet snapshot", f"{row.index}, {row.uuid}",
                             "GPU missing from nvidia-smi -L or -q -x")
        states[row.uuid] = GpuState(
            index=row.index, uuid=row.uuid, name=row.name, pci_bus_id=row.pci_bus_id,
            mig_current=row.mig_current, mig_pending=row.mig_pending, memory_mib=row.memory_mib,
            driver_version=row.driver_version,
            gpu_instances=tuple(sorted((gi for i, gi in gis if i == row.index), key=lambda g: g.gi_id)),
            compute_instances=tuple(sorted((ci for i, ci in cis if i == row.index),
                                           key=lambda c: (c.gi_id, c.ci_id))),
            mig_devices=_match_devices(listed[row.uuid], xml[row.uuid]),
            processes=xml[row.uuid].processes)
    snapshot_check.check_devices(states)
    return states


def _match_devices(listed: ListedGpu, xml: XmlGpu) -> tuple[MigDevice, ...]:
    """MIG UUIDs come from -L, their GI/CI ids from -q -x; both number devices the same way."""
    ids = {index: (gi, ci) for index, gi, ci in xml.mig_devices}
    if set(ids) != {d.device_index for d in listed.mig_devices}:
        raise ParseError("migfleet snapshot", f"GPU {listed.index}: {listed.uuid}",
                         f"-L lists MIG devices {sorted(d.device_index for d in listed.mig_devices)}, "
                         f"-q -x lists {sorted(ids)}")
    return tuple(MigDevice(uuid=d.uuid, gi_id=ids[d.device_index][0], ci_id=ids[d.device_index][1],
                           name=d.name) for d in listed.mig_devices)


# ---------------------------------------------------------------- commands migfleet sends

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
