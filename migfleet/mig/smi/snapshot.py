"""The one-round-trip MIG snapshot: which nvidia-smi listings, framed how, and the GPU states
parsed and cross-checked from them (nothing is planned on output that contradicts itself)."""
from __future__ import annotations

import dataclasses

from migfleet import sections
from migfleet.mig.smi import check
from migfleet.mig.smi.errors import NO_MIG_DEVICES, _NOT_FOUND, DriverUnavailable, ParseError
from migfleet.mig.smi.listings import QUERY_FIELDS, ListedGpu, XmlGpu, parse_list, parse_query_gpu, parse_query_xml
from migfleet.mig.geometry import Geometry
from migfleet.mig.smi.tables import geometry_from_lgip, parse_lci, parse_lgi
from migfleet.mig.state import GpuState, MigDevice

SNAPSHOT_SECTIONS = (
    ("query", "nvidia-smi --query-gpu=" + ",".join(QUERY_FIELDS) + " --format=csv,noheader,nounits"),
    ("list", "nvidia-smi -L"),
    ("lgi", "nvidia-smi mig -lgi"),
    ("lci", "nvidia-smi mig -lci"),
    ("xml", "nvidia-smi -q -x"),
)
NAMES = tuple(n for n, _ in SNAPSHOT_SECTIONS)
# Each section exits 127 without nvidia-smi, so a host without the driver reads as such, not as
# a host without GPUs.
COMMANDS = {name: f"command -v nvidia-smi >/dev/null || exit 127; {cmd}" for name, cmd in SNAPSHOT_SECTIONS}
SNAPSHOT_COMMAND = sections.frame(COMMANDS)


def parse_snapshot(text: str) -> dict[str, GpuState]:
    """Output of SNAPSHOT_COMMAND -> {uuid: GpuState} in index order."""
    try:
        split = sections.split(text, NAMES)
    except sections.SectionError as e:
        raise ParseError("migfleet snapshot", text.strip().splitlines()[-1] if text.strip() else "", str(e)) from None
    return parse_sections(split)


def _mig_listing(section: tuple[int, str], parse, what: str):
    rc, out = section
    stripped = out.strip()
    if stripped == NO_MIG_DEVICES or _NOT_FOUND.match(stripped):
        return []
    if rc != 0:
        raise ParseError(what, stripped.splitlines()[0] if stripped else "", f"exit code {rc}")
    return parse(out)


def parse_sections(sec: dict[str, tuple[int, str]]) -> dict[str, GpuState]:
    """The snapshot's sections ({name: (exit code, output)}) -> {uuid: GpuState} in index order."""
    if sec["query"][0] == 127:
        raise DriverUnavailable("nvidia-smi not found on the host (is the NVIDIA driver installed?)")
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
    check.check_gpus(rows, listing, xml)
    check.check_counts(rows, listing, xml, gis, cis)
    check.check_instances(rows, gis, cis)
    states: dict[str, GpuState] = {}
    for row in sorted(rows, key=lambda r: r.index):
        if row.uuid not in listed or row.uuid not in xml:
            raise ParseError("migfleet snapshot", f"{row.index}, {row.uuid}",
                             "GPU missing from nvidia-smi -L or -q -x")
        states[row.uuid] = dataclasses.replace(
            row, gpu_instances=tuple(sorted((gi for i, gi in gis if i == row.index), key=lambda g: g.gi_id)),
            compute_instances=tuple(sorted((ci for i, ci in cis if i == row.index),
                                           key=lambda c: (c.gi_id, c.ci_id))),
            mig_devices=_match_devices(listed[row.uuid], xml[row.uuid]),
            processes=xml[row.uuid].processes)
    check.check_processes(states)
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




GEOMETRY_NAMES = ("query", "lgip", "lgipp")


def geometry_command(gpu_index: int) -> str:
    """`--query-gpu` (model, memory), `mig -lgip` and `mig -lgipp` of one GPU in one round trip."""
    idx = int(gpu_index)
    return sections.frame({
        "query": f"nvidia-smi -i {idx} --query-gpu=" + ",".join(QUERY_FIELDS) + " --format=csv,noheader,nounits",
        "lgip": f"nvidia-smi mig -i {idx} -lgip",
        "lgipp": f"nvidia-smi mig -i {idx} -lgipp",
    })


def parse_geometry(text: str) -> Geometry:
    """Output of `geometry_command(i)` -> GPU i's Geometry (raises ParseError)."""
    try:
        sec = sections.split(text, GEOMETRY_NAMES)
    except sections.SectionError as e:
        raise ParseError("MIG geometry listing", text.strip()[-200:], str(e)) from None
    for name in GEOMETRY_NAMES:
        if sec[name][0] != 0:
            raise ParseError(f"nvidia-smi {name} listing", sec[name][1].strip()[:200], f"exit code {sec[name][0]}")
    rows = parse_query_gpu(sec["query"][1])
    if len(rows) != 1:
        raise ParseError("nvidia-smi --query-gpu of one GPU", sec["query"][1][:200], "expected exactly one GPU")
    return geometry_from_lgip(sec["lgip"][1], sec["lgipp"][1], model=rows[0].name,
                                  memory_mib=rows[0].memory_mib or 0, gpu=rows[0].index)
