"""nvidia-smi's GPU listings: `--query-gpu` csv, `-L` and `-q -x`."""
from __future__ import annotations

import csv
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from migfleet.mig.smi.errors import ParseError
from migfleet.mig.state import GpuProcess, GpuState

# ---------------------------------------------------------------- --query-gpu

QUERY_FIELDS = ("index", "uuid", "name", "pci.bus_id", "mig.mode.current", "mig.mode.pending",
                "memory.total", "driver_version")


def _mode(value: str, line: str) -> bool:
    v = value.strip()
    if v == "Enabled":
        return True
    if v in ("Disabled", "[N/A]", "N/A"):     # [N/A]: a GPU without MIG support
        return False
    raise ParseError("--query-gpu output", line, f"MIG mode {v!r}")


def parse_query_gpu(text: str) -> list[GpuState]:
    """`--query-gpu=<QUERY_FIELDS> --format=csv[,noheader][,nounits]` -> one GpuState per GPU, holding
    what the query says (its instances, devices and processes are for the snapshot to fill)."""
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
        rows.append(GpuState(int(cells[0]), cells[1], cells[2], cells[3], _mode(cells[4], line),
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
