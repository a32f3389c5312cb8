"""Cross-checks of nvidia-smi's listings of one host: nothing is planned on output that contradicts itself.

Each snapshot section is parsed on its own; here they must describe the same GPUs and instances:
- the GPUs of --query-gpu, -L and -q -x, both ways, with the same index and name;
- every compute instance (-lci) inside a GPU instance that -lgi lists, ids unique;
- MIG devices (-q -x) one to one with compute instances: a MIG device *is* a compute
  instance (MIG user guide, "Terminology"), so a device without its CI, or a CI without its
  device, means a section was cut or read at a different moment;
- GPU instances only on GPUs whose MIG mode is enabled; processes on instances that exist.
A GPU instance without compute instances is legal (`mig -cgi` without `-C` leaves it so, and
the guide creates CIs as a separate step), so it is not an error: it simply has no MIG device.

nvidia-smi closes every table row with a border, so a listing cut short at a row border parses as
a shorter listing: only the other sections show it. Those disagreements are said as counts, per
GPU, naming the section that lists fewer (`check_counts`). A GPU instance without compute
instances has no MIG device to show it, so a cut that drops only such rows cannot be seen.
`mig -lgip` of one GPU is checked against its `-lgipp` and, for a catalogued model, the catalog
(`check_profiles`).
"""
from __future__ import annotations

from collections import Counter

from migfleet.mig import catalog
from migfleet.mig.smi.errors import ParseError
from migfleet.mig.smi.listings import ListedGpu, XmlGpu
from migfleet.mig.state import ComputeInstance, GpuInstance, GpuState

WHAT = "migfleet snapshot"


def _fail(line: str, detail: str):
    raise ParseError(WHAT, line, detail)


def _dupes(items) -> list:
    return sorted(k for k, n in Counter(items).items() if n > 1)


def check_gpus(rows: list[GpuState], listed: list[ListedGpu], xml: dict[str, XmlGpu]) -> None:
    """--query-gpu, -L and -q -x name the same GPUs, with the same indexes and names."""
    for what, items in (("--query-gpu", [r.uuid for r in rows]), ("-L", [g.uuid for g in listed])):
        if d := _dupes(items):
            _fail(d[0], f"{what} lists GPU {d[0]} more than once")
    for what, items in (("--query-gpu", [r.index for r in rows]), ("-L", [g.index for g in listed])):
        if d := _dupes(items):
            _fail(str(d[0]), f"{what} lists GPU index {d[0]} more than once")
    q, l, x = {r.uuid for r in rows}, {g.uuid for g in listed}, set(xml)
    for name, mine, others in (("--query-gpu", q, (("-L", l), ("-q -x", x))),
                               ("-L", l, (("--query-gpu", q), ("-q -x", x))),
                               ("-q -x", x, (("--query-gpu", q), ("-L", l)))):
        for other_name, other in others:
            if extra := sorted(mine - other):
                _fail(extra[0], f"GPU listed by nvidia-smi {name} but not by {other_name} ({name} lists "
                                f"{len(mine)} GPU(s), {other_name} {len(other)})")
    by_uuid = {g.uuid: g for g in listed}
    for r in rows:
        g = by_uuid[r.uuid]
        if g.index != r.index:
            _fail(f"{r.index}, {r.uuid}", f"--query-gpu says index {r.index}, -L says {g.index}")
        if not _same_name(r.name, g.name) or (xml[r.uuid].name and not _same_name(r.name, xml[r.uuid].name)):
            _fail(f"{r.index}, {r.uuid}", f"--query-gpu names it {r.name!r}, -L {g.name!r}, "
                                          f"-q -x {xml[r.uuid].name!r}")


def _same_name(a: str, b: str) -> bool:
    return catalog.norm_model(a) == catalog.norm_model(b)


def check_instances(rows: list[GpuState], gis: list[tuple[int, GpuInstance]],
                    cis: list[tuple[int, ComputeInstance]]) -> None:
    """-lgi and -lci agree with each other and with the GPUs' MIG mode."""
    mode = {r.index: r.mig_current for r in rows}
    for gpu, gi in gis:
        if gpu not in mode:
            _fail(f"GPU {gpu} GI {gi.gi_id}", f"mig -lgi lists a GPU instance on GPU {gpu}, which "
                                              "--query-gpu does not list")
        if not mode[gpu]:
            _fail(f"GPU {gpu} GI {gi.gi_id}", f"mig -lgi lists GPU instance {gi.gi_id} on GPU {gpu}, whose MIG "
                                              "mode --query-gpu reports disabled")
    if d := _dupes((gpu, gi.gi_id) for gpu, gi in gis):
        _fail(f"GPU {d[0][0]} GI {d[0][1]}", f"mig -lgi lists GPU instance {d[0][1]} of GPU {d[0][0]} more than once")
    known = {(gpu, gi.gi_id) for gpu, gi in gis}
    for gpu, ci in cis:
        if (gpu, ci.gi_id) not in known:
            _fail(f"GPU {gpu} GI {ci.gi_id} CI {ci.ci_id}",
                  f"mig -lci lists compute instance {ci.ci_id} in GPU instance {ci.gi_id} of GPU {gpu}, "
                  "which mig -lgi does not list")
    if d := _dupes((gpu, ci.gi_id, ci.ci_id) for gpu, ci in cis):
        _fail(f"GPU {d[0][0]} GI {d[0][1]} CI {d[0][2]}", "mig -lci lists this compute instance more than once")


def _some(items, n: int = 3) -> str:
    shown = ", ".join(str(i) for i in items[:n])
    return shown + (f" and {len(items) - n} more" if len(items) > n else "")


def _cis(pairs) -> str:
    return "compute instance " + _some([f"{ci} of GPU instance {gi}" for gi, ci in pairs])


def check_counts(rows: list[GpuState], listing: list[ListedGpu], xml: dict[str, XmlGpu],
                 gis: list[tuple[int, GpuInstance]], cis: list[tuple[int, ComputeInstance]]) -> None:
    """Per GPU, its instances as four sections list them: -lgi's GPU instances hold -lci's compute
    instances, and each compute instance is one MIG device in -q -x and in -L. (After check_gpus:
    the GPUs themselves agree.)"""
    listed = {g.uuid: g for g in listing}
    for r in sorted(rows, key=lambda r: r.index):
        where = f"GPU {r.index}: {r.uuid}"
        gi_ids = {gi.gi_id for g, gi in gis if g == r.index}
        ci_ids = {(ci.gi_id, ci.ci_id) for g, ci in cis if g == r.index}
        devices = [(gi, ci) for _, gi, ci in xml[r.uuid].mig_devices]
        if d := _dupes(devices):
            _fail(where, f"-q -x lists two MIG devices on GPU instance {d[0][0]}, compute instance {d[0][1]}")
        ci_gis, device_gis = {gi for gi, _ in ci_ids}, {gi for gi, _ in devices}
        if lost := sorted((ci_gis | device_gis) - gi_ids):
            _fail(where, f"mig -lgi lists {len(gi_ids)} GPU instance(s) on GPU {r.index}, but mig -lci has compute "
                         f"instances in {len(ci_gis)} and -q -x has MIG devices in {len(device_gis)}: GPU instance "
                         f"{_some(lost)} missing from -lgi (output cut short?)")
        if lost := sorted(set(devices) - ci_ids):
            _fail(where, f"mig -lci lists {len(ci_ids)} compute instance(s) on GPU {r.index}, but -q -x lists "
                         f"{len(devices)} MIG device(s): {_cis(lost)} missing from -lci (output cut short?)")
        if lost := sorted(ci_ids - set(devices)):
            _fail(where, f"-q -x lists {len(devices)} MIG device(s) on GPU {r.index}, but mig -lci lists "
                         f"{len(ci_ids)} compute instance(s): {_cis(lost)} without a MIG device in -q -x")
        if (n := len(listed[r.uuid].mig_devices)) != len(devices):
            _fail(where, f"-L lists {n} MIG device(s) on GPU {r.index}, but -q -x lists {len(devices)}"
                         + (" (output cut short?)" if n < len(devices) else ""))


def check_processes(states: dict[str, GpuState]) -> None:
    """Processes (-q -x) on GPU instances that -lgi lists."""
    for s in states.values():
        gi_ids = {g.gi_id for g in s.gpu_instances}
        for p in s.processes:
            if p.gi_id is not None and p.gi_id not in gi_ids:
                _fail(f"GPU {s.index}: {s.uuid}", f"-q -x lists process {p.pid} on GPU instance {p.gi_id}, which "
                                                  "mig -lgi does not list")


def check_profiles(model: str, gpu: int, listed: list[tuple[int, str, int]], placed: list[int],
                   last_line: str) -> None:
    """One GPU's `mig -lgip` profiles ((ID, name, total instances) each) against the profile IDs
    `-lgipp` places (both list every profile of the GPU, MIG enabled or not) and, for a model in the
    catalog, against the catalog's profiles. `last_line` is quoted: where a cut listing stopped."""
    what = "mig -lgip output"
    ids = [pid for pid, _, _ in listed]
    if lost := [pid for pid in placed if pid not in ids]:
        raise ParseError(what, last_line, f"mig -lgip lists {len(ids)} GPU instance profile(s) on GPU {gpu}, but "
                                          f"mig -lgipp places {len(placed)}: profile ID {_some(lost)} missing from "
                                          "-lgip (output cut short?)")
    known = catalog.model_named(model)
    geometry = catalog.lookup(known) if known else None
    if geometry is None:
        return
    by_id = {p.id: p for p in geometry.profiles}
    for pid, name, total in listed:
        p = by_id.get(pid)
        if p is not None and (p.name, p.instances) != (name, total):
            raise ParseError(what, last_line, f"mig -lgip lists profile ID {pid} on GPU {gpu} as {name} with {total} "
                                              f"instance(s); the catalog's {known} has {p.name} with {p.instances}")
    if lost := [f"{p.name} (ID {p.id})" for p in geometry.profiles if p.id not in ids]:
        raise ParseError(what, last_line, f"mig -lgip lists {len(ids)} of the {len(geometry.profiles)} GPU instance "
                                          f"profiles the catalog has for {known} on GPU {gpu}: {_some(lost)} "
                                          "missing (output cut short?)")
