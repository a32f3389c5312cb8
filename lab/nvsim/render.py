"""Text outputs of nvidia-smi (driver 580 layout): -L, --query-gpu, mig -lgip/-lgipp/-lgi/-lci/-lcip."""
from __future__ import annotations

import re
import time
from pathlib import Path

from lab.nvsim import engine

TEMPLATES = Path(__file__).with_name("templates")


# ---- nvidia-smi -L -------------------------------------------------------------------------

def list_gpus(gpus: list[dict]) -> str:
    lines = []
    for gpu in gpus:
        lines.append(f"GPU {gpu['index']}: {gpu['model']} (UUID: {gpu['uuid']})")
        for dev in engine.mig_devices(gpu):
            lines.append(f"  {'MIG ' + dev['name']:<16}Device {dev['index']:>2}: (UUID: {dev['uuid']})")
    return "".join(line + "\n" for line in lines)


# ---- --query-gpu ---------------------------------------------------------------------------

def _valid_query_fields() -> set[str]:
    text = (TEMPLATES / "help_query_gpu.txt").read_text(encoding="utf-8")
    names = set()
    for line in text.splitlines():
        if line.startswith('"'):
            names.update(re.findall(r'"([^"]+)"', line))
    return names


def _memory_used(state: dict, gpu: dict) -> int:
    return sum(p.get("used_memory_mib", 0) for p in state["processes"] if p["gpu_uuid"] == gpu["uuid"])


def query_value(state: dict, gpu: dict, field: str) -> tuple[str, str | None]:
    """(value, unit) of one --query-gpu field; unit None when the field has none."""
    geo = engine.geometry(gpu)
    mode = {True: "Enabled", False: "Disabled"}
    used = _memory_used(state, gpu)
    reserved = 480 if geo.memory_mib < 100000 else 616
    values = {
        "index": (str(gpu["index"]), None),
        "uuid": (gpu["uuid"], None), "gpu_uuid": (gpu["uuid"], None),
        "name": (gpu["model"], None), "gpu_name": (gpu["model"], None),
        "pci.bus_id": (gpu["pci_bus_id"], None), "gpu_bus_id": (gpu["pci_bus_id"], None),
        "pci.domain": ("0x" + gpu["pci_bus_id"][:8][-4:], None),
        "pci.bus": ("0x" + gpu["pci_bus_id"].split(":")[1], None),
        "pci.device": ("0x" + gpu["pci_bus_id"].split(":")[2][:2], None),
        "pci.device_id": ("0x" + engine.models.nvidia_smi_pci_ids(gpu["model"])[0], None),
        "pci.sub_device_id": ("0x" + engine.models.nvidia_smi_pci_ids(gpu["model"])[1], None),
        "mig.mode.current": (mode[gpu["mig_current"]], None),
        "mig.mode.pending": (mode[gpu["mig_pending"]], None),
        "memory.total": (str(geo.memory_mib), "MiB"),
        "memory.reserved": (str(reserved), "MiB"),
        "memory.used": (str(used), "MiB"),
        "memory.free": (str(geo.memory_mib - reserved - used), "MiB"),
        "driver_version": (state["driver_version"], None),
        "count": (str(len(state["gpus"])), None),
        "serial": ("0000000000000", None), "gpu_serial": ("0000000000000", None),
        "persistence_mode": ("Enabled", None),
        "compute_mode": ("Default", None),
        "timestamp": (time.strftime("%Y/%m/%d %H:%M:%S.000"), None),
    }
    return values.get(field, ("[N/A]", None))


class QueryError(Exception):
    pass


def query_gpu(state: dict, gpus: list[dict], fields: list[str], header: bool, units: bool) -> str:
    valid = _valid_query_fields()
    for field in fields:
        if field not in valid:
            raise QueryError(f'Field "{field}" is not a valid field to query.\n\n')
    lines = []
    if header:
        heads = []
        for field in fields:
            unit = query_value(state, gpus[0], field)[1] if gpus else None
            heads.append(f"{field} [{unit}]" if unit else field)
        lines.append(", ".join(heads))
    for gpu in gpus:
        cells = []
        for field in fields:
            value, unit = query_value(state, gpu, field)
            cells.append(f"{value} {unit}" if unit and units else value)
        lines.append(", ".join(cells))
    return "".join(line + "\n" for line in lines)


def query_compute_apps(state: dict, gpus: list[dict], fields: list[str], header: bool,
                       units: bool) -> str:
    known = {"pid", "process_name", "name", "gpu_uuid", "gpu_name", "gpu_bus_id", "gpu_serial",
             "used_memory", "used_gpu_memory", "timestamp"}
    for field in fields:
        if field not in known:
            raise QueryError(f'Field "{field}" is not a valid field to query.\n\n')
    lines = []
    if header:
        heads = {"used_memory": "used_gpu_memory [MiB]", "used_gpu_memory": "used_gpu_memory [MiB]",
                 "name": "process_name"}
        lines.append(", ".join(heads.get(f, f) for f in fields))
    by_uuid = {g["uuid"]: g for g in gpus}
    for proc in state["processes"]:
        gpu = by_uuid.get(proc["gpu_uuid"])
        if gpu is None:
            continue
        mem = str(proc.get("used_memory_mib", 0))
        row = {"pid": str(proc["pid"]), "process_name": proc["name"], "name": proc["name"],
               "gpu_uuid": gpu["uuid"], "gpu_name": gpu["model"], "gpu_bus_id": gpu["pci_bus_id"],
               "gpu_serial": "0000000000000",
               "used_memory": mem + (" MiB" if units else ""),
               "used_gpu_memory": mem + (" MiB" if units else ""),
               "timestamp": time.strftime("%Y/%m/%d %H:%M:%S.000")}
        lines.append(", ".join(row[f] for f in fields))
    return "".join(line + "\n" for line in lines)


# ---- mig -lgip / -lgipp --------------------------------------------------------------------

_LGIP_RULE = "+" + "-" * 79 + "+"
_LGIP_HEAD = (
    "| GPU instance profiles:                                                        |\n"
    "| GPU   Name               ID    Instances   Memory     P2P    SM    DEC   ENC  |\n"
    "|                                Free/Total   GiB              CE    JPEG  OFA  |\n"
    "|===============================================================================|\n"
)


def list_gi_profiles(gpus: list[dict]) -> str:
    out = [_LGIP_RULE + "\n", _LGIP_HEAD]
    for gpu in gpus:
        for p in engine.geometry(gpu).profiles:
            free = engine.free_instances(gpu, p) if gpu["mig_current"] else p.instances
            mem = f"{p.memory_mib / 1024:.2f}"
            out.append(f"|{gpu['index']:>4}  {'MIG ' + p.name:<18}{p.id:>4}{f'{free}/{p.instances}':>8}"
                       f"{'':8}{mem:<11}{'Yes' if p.p2p else 'No':<7}{p.sm:<7}{p.dec:<6}{p.enc:<4}|\n")
            out.append(f"|{'':63}{p.ce:<6}{p.jpeg:<6}{p.ofa:<4}|\n")
            out.append(_LGIP_RULE + "\n")
    return "".join(out)


def list_gi_placements(gpus: list[dict]) -> str:
    out = []
    for gpu in gpus:
        for p in engine.geometry(gpu).profiles:
            starts = ",".join(str(s) for s, _ in p.placements)
            size = p.placements[0][1]
            label = "Placements:" if len(p.placements) > 1 else "Placement :"
            out.append(f"GPU {gpu['index']:>2} Profile ID {p.id:>2} {label} {{{starts}}}:{size}\n")
    return "".join(out)


# ---- mig -lgi / -lci / -lcip ---------------------------------------------------------------

_LGI_RULE = "+" + "-" * 57 + "+"
_LGI_HEAD = (
    "| GPU instances:                                          |\n"
    "| GPU   Name               Profile  Instance   Placement  |\n"
    "|                            ID       ID       Start:Size |\n"
    "|=========================================================|\n"
)
_LCI_RULE = "+" + "-" * 68 + "+"
_LCI_HEAD = (
    "| Compute instances:                                                 |\n"
    "| GPU     GPU       Name             Profile   Instance   Placement  |\n"
    "|       Instance                       ID        ID       Start:Size |\n"
    "|         ID                                                         |\n"
    "|====================================================================|\n"
)
_LCIP_RULE = "+" + "-" * 86 + "+"
_LCIP_HEAD = (
    "| Compute instance profiles:                                                           |\n"
    "| GPU     GPU       Name             Profile  Instances   Exclusive       Shared       |\n"
    "|       Instance                       ID     Free/Total     SM       DEC   ENC   OFA  |\n"
    "|         ID                                                          CE    JPEG       |\n"
    "|======================================================================================|\n"
)


def gis_in_listing_order(gpu: dict, gi_ids: list[int] | None = None) -> list[dict]:
    """GIs as nvidia-smi lists them: by GI profile (in -lgip order), then by GI ID."""
    order = {p.id: n for n, p in enumerate(engine.geometry(gpu).profiles)}
    gis = [gi for gi in gpu["gpu_instances"] if gi_ids is None or gi["gi_id"] in gi_ids]
    return sorted(gis, key=lambda gi: (order[gi["profile_id"]], gi["gi_id"]))


def list_gpu_instances(gpus: list[dict], gi_ids: list[int] | None = None) -> str:
    rows = []
    for gpu in gpus:
        for gi in gis_in_listing_order(gpu, gi_ids):
            p = engine.gi_profile(gpu, gi)
            rows.append(f"|{gpu['index']:>4}  {'MIG ' + p.name:<18}{p.id:>6}{gi['gi_id']:>9}"
                        f"{str(gi['start']) + ':' + str(gi['size']):>13}     |\n{_LGI_RULE}\n")
    return _LGI_RULE + "\n" + _LGI_HEAD + "".join(rows) if rows else ""


def list_compute_instances(gpus: list[dict], gi_ids: list[int] | None = None,
                           ci_ids: list[int] | None = None) -> str:
    rows = []
    for gpu in gpus:
        for gi in gis_in_listing_order(gpu, gi_ids):
            profiles = {p.id: p for p in engine.ci_profiles(gpu, gi)}
            for ci in gi["compute_instances"]:
                if ci_ids is not None and ci["ci_id"] not in ci_ids:
                    continue
                name = "MIG " + profiles[ci["profile_id"]].name
                rows.append(f"|{gpu['index']:>4}{gi['gi_id']:>7}{'':7}{name:<17}{ci['profile_id']:>5}"
                            f"{ci['ci_id']:>10}{str(ci['start']) + ':' + str(ci['size']):>13}     |\n"
                            f"{_LCI_RULE}\n")
    return _LCI_RULE + "\n" + _LCI_HEAD + "".join(rows) if rows else ""


def list_ci_profiles(gpus: list[dict], gi_ids: list[int] | None = None) -> str:
    rows = []
    for gpu in gpus:
        for gi in gis_in_listing_order(gpu, gi_ids):
            gprof = engine.gi_profile(gpu, gi)
            for p in engine.ci_profiles(gpu, gi):
                free = engine.free_compute_instances(gi, p)
                star = "*" if p.is_default else " "
                rows.append(
                    f"|{gpu['index']:>4}{gi['gi_id']:>7}{'':7}{'MIG ' + p.name:<17}{p.id:>5}{star}"
                    f"{f'{free}/{p.instances}':>8}{p.sm:>13}{gprof.dec:>9}{gprof.enc:>6}{gprof.ofa:>6}   |\n"
                    f"|{'':62}{gprof.ce:>9}{gprof.jpeg:>6}{'':9}|\n{_LCIP_RULE}\n")
    return _LCIP_RULE + "\n" + _LCIP_HEAD + "".join(rows) if rows else ""
