"""Cross-check of the snapshot's sections: nothing is planned on output that contradicts itself.

Each section is parsed on its own; here they must describe the same GPUs and instances:
- the GPUs of --query-gpu, -L and -q -x, both ways, with the same index and name;
- every compute instance (-lci) inside a GPU instance that -lgi lists, ids unique;
- MIG devices (-q -x) one to one with compute instances: a MIG device *is* a compute
  instance (MIG user guide, "Terminology"), so a device without its CI, or a CI without its
  device, means a section was cut or read at a different moment;
- GPU instances only on GPUs whose MIG mode is enabled; processes on instances that exist.
A GPU instance without compute instances is legal (`mig -cgi` without `-C` leaves it so, and
the guide creates CIs as a separate step), so it is not an error: it simply has no MIG device.
"""
from __future__ import annotations

from collections import Counter

from migfleet.mig.catalog import norm_model
from migfleet.mig.smi.errors import ParseError
from migfleet.mig.smi.listings import ListedGpu, QueryRow, XmlGpu
from migfleet.mig.state import ComputeInstance, GpuInstance, GpuState

WHAT = "migfleet snapshot"


def _fail(line: str, detail: str):
    raise ParseError(WHAT, line, detail)


def _dupes(items) -> list:
    return sorted(k for k, n in Counter(items).items() if n > 1)


def check_gpus(rows: list[QueryRow], listed: list[ListedGpu], xml: dict[str, XmlGpu]) -> None:
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
                _fail(extra[0], f"GPU listed by nvidia-smi {name} but not by {other_name}")
    by_uuid = {g.uuid: g for g in listed}
    for r in rows:
        g = by_uuid[r.uuid]
        if g.index != r.index:
            _fail(f"{r.index}, {r.uuid}", f"--query-gpu says index {r.index}, -L says {g.index}")
        if not _same_name(r.name, g.name) or (xml[r.uuid].name and not _same_name(r.name, xml[r.uuid].name)):
            _fail(f"{r.index}, {r.uuid}", f"--query-gpu names it {r.name!r}, -L {g.name!r}, "
                                          f"-q -x {xml[r.uuid].name!r}")


def _same_name(a: str, b: str) -> bool:
    return norm_model(a) == norm_model(b)


def check_instances(rows: list[QueryRow], gis: list[tuple[int, GpuInstance]],
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


def check_devices(states: dict[str, GpuState]) -> None:
    """MIG devices (-L / -q -x) one to one with compute instances (-lci); processes on real ones."""
    for s in states.values():
        cis = {(c.gi_id, c.ci_id) for c in s.compute_instances}
        devices = [(d.gi_id, d.ci_id) for d in s.mig_devices]
        if d := _dupes(devices):
            _fail(f"GPU {s.index}: {s.uuid}", f"-q -x lists two MIG devices on GPU instance {d[0][0]}, "
                                              f"compute instance {d[0][1]}")
        if missing := sorted(set(devices) - cis):
            gi, ci = missing[0]
            _fail(f"GPU {s.index}: {s.uuid}", f"-q -x lists a MIG device on GPU instance {gi}, compute instance "
                                              f"{ci}, which mig -lci does not list")
        if orphans := sorted(cis - set(devices)):
            gi, ci = orphans[0]
            _fail(f"GPU {s.index}: {s.uuid}", f"mig -lci lists compute instance {ci} of GPU instance {gi}, which "
                                              "has no MIG device in -L / -q -x")
        gi_ids = {g.gi_id for g in s.gpu_instances}
        for p in s.processes:
            if p.gi_id is not None and p.gi_id not in gi_ids:
                _fail(f"GPU {s.index}: {s.uuid}", f"-q -x lists process {p.pid} on GPU instance {p.gi_id}, which "
                                                  "mig -lgi does not list")
