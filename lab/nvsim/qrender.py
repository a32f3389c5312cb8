"""`nvidia-smi -q` and `-q -x`, built from the real H100/H200 captures in templates/.

Each GPU's block is the captured block with the simulated GPU's identity, MIG mode, MIG devices,
memory use and processes put in; everything else (clocks, temperatures, ...) stays as captured.
"""
from __future__ import annotations

import re
import time
from pathlib import Path

from lab.nvsim import engine

TEMPLATES = Path(__file__).with_name("templates")
TEMPLATE_OF = {"NVIDIA H200": "h200"}          # every other model renders from the H100 capture
# Identity fields that differ from the capture used as template (XML tag -> value).
OVERRIDES = {
    "NVIDIA A100-SXM4-40GB": {"pci_device_id": "20B010DE", "pci_sub_system_id": "134F10DE",
                              "vbios_version": "92.00.36.00.10", "board_part_number": "692-2G506-0200-003",
                              "gpu_part_number": "20B0-884-A1"},
    "NVIDIA A100-SXM4-80GB": {"pci_device_id": "20B210DE", "pci_sub_system_id": "147F10DE",
                              "vbios_version": "92.00.45.00.06", "board_part_number": "692-2G506-0210-002",
                              "gpu_part_number": "20B2-895-A1"},
}
def _identity(model: str) -> dict:
    """Identity fields to set over the template: the model's overrides, else its PCI IDs."""
    if model in OVERRIDES:
        return OVERRIDES[model]
    device, sub = engine.models.nvidia_smi_pci_ids(model)
    return {"pci_device_id": device, "pci_sub_system_id": sub}


TEXT_KEYS = {"pci_device_id": "Device Id", "pci_sub_system_id": "Sub System Id",
             "vbios_version": "VBIOS Version", "board_part_number": "Board Part Number",
             "gpu_part_number": "GPU Part Number"}
MODE = {True: "Enabled", False: "Disabled"}


def _template(gpu: dict, ext: str) -> str:
    name = TEMPLATE_OF.get(gpu["model"], "h100")
    return (TEMPLATES / f"{name}.q.{ext}").read_text(encoding="utf-8")


def _memory(state: dict, gpu: dict, captured: tuple[int, int, int, int]) -> tuple[int, int, int]:
    """(total, used, free) MiB; free follows the capture's own rounding when the total is the same."""
    cap_total, cap_reserved, cap_used, cap_free = captured
    total = engine.geometry(gpu).memory_mib
    used = sum(p.get("used_memory_mib", 0) for p in state["processes"] if p["gpu_uuid"] == gpu["uuid"])
    free = (cap_free + cap_used if total == cap_total else total - cap_reserved) - used
    return total, used, free


def _bus_parts(bus_id: str) -> tuple[str, str]:
    _, bus, devfn = bus_id.split(":")
    return bus, devfn.split(".")[0]


def _processes(state: dict, gpu: dict) -> list[dict]:
    return [p for p in state["processes"] if p["gpu_uuid"] == gpu["uuid"]]


# ---- XML -----------------------------------------------------------------------------------

def _xset(block: str, tag: str, value: str, after: str | None = None) -> str:
    start = block.index(after) if after else 0
    pattern = re.compile(rf"<{tag}>[^<]*</{tag}>")
    m = pattern.search(block, start)
    if m is None:
        raise ValueError(f"template has no <{tag}> after {after!r}")
    return block[:m.start()] + f"<{tag}>{value}</{tag}>" + block[m.end():]


def _xml_mig_devices(gpu: dict) -> str:
    devs = engine.mig_devices(gpu)
    if not devs:
        return "\t\t<mig_devices>\n\t\t\tNone\n\t\t</mig_devices>"
    parts = ["\t\t<mig_devices>"]
    for d in devs:
        g, c = d["gi_profile"], d["ci_profile"]
        parts.append(
            "\t\t\t<mig_device>\n"
            f"\t\t\t\t<index>{d['index']}</index>\n"
            f"\t\t\t\t<gpu_instance_id>{d['gi_id']}</gpu_instance_id>\n"
            f"\t\t\t\t<compute_instance_id>{d['ci_id']}</compute_instance_id>\n"
            "\t\t\t\t<device_attributes>\n\t\t\t\t\t<shared>\n"
            f"\t\t\t\t\t\t<multiprocessor_count>{c.sm}</multiprocessor_count>\n"
            f"\t\t\t\t\t\t<copy_engine_count>{g.ce}</copy_engine_count>\n"
            f"\t\t\t\t\t\t<encoder_count>{g.enc}</encoder_count>\n"
            f"\t\t\t\t\t\t<decoder_count>{g.dec}</decoder_count>\n"
            f"\t\t\t\t\t\t<ofa_count>{g.ofa}</ofa_count>\n"
            f"\t\t\t\t\t\t<jpg_count>{g.jpeg}</jpg_count>\n"
            "\t\t\t\t\t</shared>\n\t\t\t\t</device_attributes>\n"
            "\t\t\t\t<ecc_error_count>\n\t\t\t\t\t<volatile_count>\n"
            "\t\t\t\t\t\t<sram_uncorrectable>0</sram_uncorrectable>\n"
            "\t\t\t\t\t</volatile_count>\n\t\t\t\t</ecc_error_count>\n"
            "\t\t\t\t<fb_memory_usage>\n"
            f"\t\t\t\t\t<total>{g.memory_mib} MiB</total>\n"
            "\t\t\t\t\t<reserved>0 MiB</reserved>\n"
            "\t\t\t\t\t<used>0 MiB</used>\n"
            f"\t\t\t\t\t<free>{g.memory_mib} MiB</free>\n"
            "\t\t\t\t</fb_memory_usage>\n"
            "\t\t\t\t<bar1_memory_usage>\n"
            "\t\t\t\t\t<total>32767 MiB</total>\n\t\t\t\t\t<used>0 MiB</used>\n"
            "\t\t\t\t\t<free>32767 MiB</free>\n"
            "\t\t\t\t</bar1_memory_usage>\n"
            "\t\t\t</mig_device>")
    parts.append("\t\t</mig_devices>")
    return "\n".join(parts)


def _xml_processes(state: dict, gpu: dict) -> str:
    parts = ["\t\t<processes>"]
    for p in _processes(state, gpu):
        gi = p.get("gi_id") if gpu["mig_current"] and p.get("gi_id") is not None else "N/A"
        ci = p.get("ci_id") if gpu["mig_current"] and p.get("ci_id") is not None else "N/A"
        parts.append(
            "\t\t\t<process_info>\n"
            f"\t\t\t\t<gpu_instance_id>{gi}</gpu_instance_id>\n"
            f"\t\t\t\t<compute_instance_id>{ci}</compute_instance_id>\n"
            f"\t\t\t\t<pid>{p['pid']}</pid>\n"
            "\t\t\t\t<type>C</type>\n"
            f"\t\t\t\t<process_name>{_xml_escape(p['name'])}</process_name>\n"
            f"\t\t\t\t<used_memory>{p.get('used_memory_mib', 0)} MiB</used_memory>\n"
            "\t\t\t</process_info>")
    parts.append("\t\t</processes>")
    return "\n".join(parts)


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _xml_gpu(state: dict, gpu: dict, block: str) -> str:
    bus, dev = _bus_parts(gpu["pci_bus_id"])
    block = re.sub(r'<gpu id="[^"]*">', f'<gpu id="{gpu["pci_bus_id"]}">', block, count=1)
    block = _xset(block, "product_name", _xml_escape(gpu["model"]))
    block = _xset(block, "product_architecture", engine.geometry(gpu).architecture)
    block = _xset(block, "current_mig", MODE[gpu["mig_current"]])
    block = _xset(block, "pending_mig", MODE[gpu["mig_pending"]])
    block = re.sub(r"\t\t<mig_devices>.*?</mig_devices>", lambda _: _xml_mig_devices(gpu), block,
                   count=1, flags=re.S)
    block = _xset(block, "uuid", gpu["uuid"])
    block = _xset(block, "minor_number", str(gpu["index"]))
    for tag, value in _identity(gpu["model"]).items():
        block = _xset(block, tag, value)
    block = _xset(block, "pci_bus", bus)
    block = _xset(block, "pci_device", dev)
    block = _xset(block, "pci_bus_id", gpu["pci_bus_id"])
    fb = re.search(r"<fb_memory_usage>\s*<total>(\d+) MiB</total>\s*<reserved>(\d+) MiB</reserved>\s*"
                   r"<used>(\d+) MiB</used>\s*<free>(\d+) MiB</free>", block)
    total, used, free = _memory(state, gpu, tuple(int(v) for v in fb.groups()))
    block = _xset(block, "total", f"{total} MiB", after="<fb_memory_usage>")
    block = _xset(block, "used", f"{used} MiB", after="<fb_memory_usage>")
    block = _xset(block, "free", f"{free} MiB", after="<fb_memory_usage>")
    block = re.sub(r"\t\t<processes>.*?</processes>", lambda _: _xml_processes(state, gpu), block,
                   count=1, flags=re.S)
    return block


def render_xml(state: dict, gpus: list[dict], now: float | None = None) -> str:
    stamp = time.strftime("%a %b %d %H:%M:%S %Y", time.localtime(now))
    blocks = []
    head = foot = ""
    for gpu in gpus:
        text = _template(gpu, "xml")
        start = text.index("\t<gpu id=")
        end = text.index("\t</gpu>\n") + len("\t</gpu>\n")
        head, foot = text[:start], text[end:]
        blocks.append(_xml_gpu(state, gpu, text[start:end]))
    if not gpus:
        text = (TEMPLATES / "h100.q.xml").read_text(encoding="utf-8")
        head = text[:text.index("\t<gpu id=")]
        foot = text[text.index("\t</gpu>\n") + len("\t</gpu>\n"):]
    head = _xset(head, "timestamp", stamp)
    head = _xset(head, "driver_version", state["driver_version"])
    head = _xset(head, "attached_gpus", str(len(state["gpus"])))
    return head + "".join(blocks) + foot


# ---- text ----------------------------------------------------------------------------------

def _kv(indent: int, key: str, value: str) -> str:
    return f"{' ' * indent}{key}".ljust(55) + f": {value}"


def _tset(lines: list[str], key: str, value: str, after: str | None = None) -> None:
    start = 0
    if after is not None:
        start = next(i for i, line in enumerate(lines) if line.rstrip() == after or line.startswith(after))
    for i in range(start, len(lines)):
        stripped = lines[i].lstrip(" ")
        if stripped.startswith(key) and stripped[len(key):].lstrip(" ").startswith(": "):
            indent = len(lines[i]) - len(stripped)
            lines[i] = _kv(indent, key, value)
            return
    raise ValueError(f"template has no {key!r} line after {after!r}")


def _text_mig_devices(gpu: dict) -> list[str]:
    out = []
    for d in engine.mig_devices(gpu):
        g, c = d["gi_profile"], d["ci_profile"]
        out += ["    MIG Device",
                _kv(8, "Index", str(d["index"])),
                _kv(8, "GPU Instance ID", str(d["gi_id"])),
                _kv(8, "Compute Instance ID", str(d["ci_id"])),
                "        Device Attributes", "            Shared",
                _kv(16, "Multiprocessor count", str(c.sm)),
                _kv(16, "Copy Engine count", str(g.ce)),
                _kv(16, "Encoder count", str(g.enc)),
                _kv(16, "Decoder count", str(g.dec)),
                _kv(16, "OFA count", str(g.ofa)),
                _kv(16, "JPG count", str(g.jpeg)),
                "        ECC Errors", "            Volatile",
                _kv(16, "SRAM Uncorrectable", "0"),
                "        FB Memory Usage",
                _kv(12, "Total", f"{g.memory_mib} MiB"), _kv(12, "Reserved", "0 MiB"),
                _kv(12, "Used", "0 MiB"), _kv(12, "Free", f"{g.memory_mib} MiB"),
                "        BAR1 Memory Usage",
                _kv(12, "Total", "32767 MiB"), _kv(12, "Used", "0 MiB"), _kv(12, "Free", "32767 MiB")]
    return out


def _text_processes(state: dict, gpu: dict) -> list[str]:
    procs = _processes(state, gpu)
    if not procs:
        return [_kv(4, "Processes", "None")]
    out = ["    Processes"]
    for p in procs:
        gi = p.get("gi_id") if gpu["mig_current"] and p.get("gi_id") is not None else "N/A"
        ci = p.get("ci_id") if gpu["mig_current"] and p.get("ci_id") is not None else "N/A"
        out += [_kv(8, "GPU instance ID", str(gi)), _kv(8, "Compute instance ID", str(ci)),
                _kv(8, "Process ID", str(p["pid"])), _kv(8, "Type", "C"),
                _kv(8, "Name", p["name"]), _kv(8, "Used GPU Memory", f"{p.get('used_memory_mib', 0)} MiB")]
    return out


def _text_gpu(state: dict, gpu: dict, lines: list[str]) -> list[str]:
    bus, dev = _bus_parts(gpu["pci_bus_id"])
    lines = list(lines)
    lines[0] = f"GPU {gpu['pci_bus_id']}"
    _tset(lines, "Product Name", gpu["model"])
    _tset(lines, "Product Architecture", engine.geometry(gpu).architecture)
    _tset(lines, "Current", MODE[gpu["mig_current"]], after="    MIG Mode")
    _tset(lines, "Pending", MODE[gpu["mig_pending"]], after="    MIG Mode")
    _tset(lines, "GPU UUID", gpu["uuid"])
    _tset(lines, "Minor Number", str(gpu["index"]))
    for tag, value in _identity(gpu["model"]).items():
        key = TEXT_KEYS[tag]
        _tset(lines, key, ("0x" + value) if key.endswith("Id") else value)
    _tset(lines, "Bus", "0x" + bus, after="    PCI")
    _tset(lines, "Device", "0x" + dev, after="    PCI")
    _tset(lines, "Bus Id", gpu["pci_bus_id"], after="    PCI")
    fb = next(i for i, line in enumerate(lines) if line.startswith("    FB Memory Usage"))
    captured = tuple(int(lines[fb + k].split(":")[1].split()[0]) for k in (1, 2, 3, 4))
    total, used, free = _memory(state, gpu, captured)
    _tset(lines, "Total", f"{total} MiB", after="    FB Memory Usage")
    _tset(lines, "Used", f"{used} MiB", after="    FB Memory Usage")
    _tset(lines, "Free", f"{free} MiB", after="    FB Memory Usage")
    pend = next(i for i, line in enumerate(lines) if line.startswith("        Pending")
                and lines[i - 2].startswith("    MIG Mode"))
    lines[pend + 1:pend + 1] = _text_mig_devices(gpu)
    proc = next(i for i, line in enumerate(lines) if line.startswith("    Processes"))
    lines[proc:proc + 1] = _text_processes(state, gpu)
    return lines


def render_text(state: dict, gpus: list[dict], now: float | None = None) -> str:
    stamp = time.strftime("%a %b %d %H:%M:%S %Y", time.localtime(now))
    head: list[str] = []
    body: list[str] = []
    for gpu in gpus:
        lines = _template(gpu, "txt").split("\n")
        start = next(i for i, line in enumerate(lines) if line.startswith("GPU "))
        head = lines[:start]
        body += _text_gpu(state, gpu, lines[start:-1])
    if not gpus:
        lines = (TEMPLATES / "h100.q.txt").read_text(encoding="utf-8").split("\n")
        head = lines[:next(i for i, line in enumerate(lines) if line.startswith("GPU "))]
    _tset(head, "Timestamp", stamp)
    _tset(head, "Driver Version", state["driver_version"])
    _tset(head, "Attached GPUs", str(len(state["gpus"])))
    return "\n".join(head + body) + "\n"
