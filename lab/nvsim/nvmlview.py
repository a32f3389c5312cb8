"""nvml.view: the state as the NVML shim reads it (format: lab/nvml/VIEW_FORMAT.md)."""
from __future__ import annotations

from lab.nvsim import engine


def _line(*fields) -> str:
    for f in fields:
        if "\t" in str(f) or "\n" in str(f):
            raise ValueError(f"nvml.view field contains a tab or newline: {f!r}")
    return "\t".join(str(f) for f in fields) + "\n"


def render(state: dict) -> str:
    out = ["# nvsim state for the NVML shim; rewritten after every change\n",
           _line("driver", state["driver_version"])]
    for gpu in state["gpus"]:
        geo = engine.geometry(gpu)
        idx = gpu["index"]
        device, sub = (int(v, 16) for v in engine.models.nvidia_smi_pci_ids(gpu["model"]))
        out.append(_line("gpu", idx, gpu["uuid"], gpu["model"], gpu["pci_bus_id"],
                         int(gpu["mig_current"]), int(gpu["mig_pending"]), geo.memory_mib * 1024 * 1024,
                         device, sub))
        for p in geo.profiles:
            placements = ",".join(f"{s}:{n}" for s, n in p.placements)
            out.append(_line("profile", idx, p.profile_index, p.id, int(p.p2p), p.slices, p.instances,
                             p.sm, p.ce, p.dec, p.enc, p.jpeg, p.ofa, p.memory_mib, p.full_name,
                             placements))
        if gpu["mig_current"]:
            for gi in gpu["gpu_instances"]:
                out.append(_line("gi", idx, gi["gi_id"], gi["profile_id"], gi["start"], gi["size"]))
            for p in geo.profiles:
                for cp in engine.models.compute_profiles(gpu["model"], p.id):
                    out.append(_line("ciprofile", idx, p.id, cp.id, cp.slices, cp.instances, cp.sm))
            for gi in gpu["gpu_instances"]:
                for ci in gi["compute_instances"]:
                    out.append(_line("ci", idx, gi["gi_id"], ci["ci_id"], ci["profile_id"], ci["start"],
                                     ci["size"]))
            for dev in engine.mig_devices(gpu):
                out.append(_line("migdev", idx, dev["index"], dev["gi_id"], dev["ci_id"], dev["uuid"],
                                 dev["memory_mib"], "MIG " + dev["name"]))
    return "".join(out)
