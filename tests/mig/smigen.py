"""nvidia-smi output rendered from a GPU description, in the layouts of docsamples.py.

Each GPU: (uuid, name, mig enabled, [(gi_id, profile_id, profile name, start, size, [ci_id, ...])]).
Every compute instance is full size and is one MIG device, numbered in GI/CI order as -q -x does.
"""
from __future__ import annotations

BORDER = "+" + "-" * 68 + "+"


def _row(text: str) -> str:
    return f"| {text:<66} |"


def query(gpus) -> str:
    return "".join(f"{i}, {u}, {name}, 00000000:{i + 16:02X}:00.0, {'Enabled' if mig else 'Disabled'}, "
                   f"{'Enabled' if mig else 'Disabled'}, 40537, 550.54.15\n"
                   for i, (u, name, mig, _) in enumerate(gpus))


def mig_uuid(gpu_uuid: str, gi: int, ci: int, old_form: bool = False) -> str:
    if old_form:     # early A100 drivers: MIG-<GPU uuid>/<gi>/<ci>
        return f"MIG-{gpu_uuid}/{gi}/{ci}"
    return f"MIG-{gpu_uuid[4:12]}-{gi:04x}-{ci:04x}-0000-000000000000"


def devices(gis):
    return [(gi[0], ci) for gi in gis for ci in gi[5]]


def listing(gpus, old_form: bool = False) -> str:
    out = []
    for i, (u, name, _, gis) in enumerate(gpus):
        out.append(f"GPU {i}: {name} (UUID: {u})")
        for n, (gi, ci) in enumerate(devices(gis)):
            prof = next(g[2] for g in gis if g[0] == gi)
            out.append(f"  MIG {prof:<11} Device {n:>2}: (UUID: {mig_uuid(u, gi, ci, old_form)})")
    return "\n".join(out) + "\n"


def lgi(gpus) -> str:
    rows = [(i, g) for i, (_, _, mig, gis) in enumerate(gpus) if mig for g in gis]
    if not rows:
        return "No GPU instances found: Not Found\n"
    out = [BORDER, _row("GPU instances:"), _row("GPU   Name             Profile  Instance   Placement"),
           _row("                         ID       ID       Start:Size"), "|" + "=" * 68 + "|"]
    for i, (gi, pid, name, start, size, _) in rows:
        out += [_row(f"{i:>3}  MIG {name:<14} {pid:>4}     {gi:>4}          {start}:{size}"), BORDER]
    return "\n".join(out) + "\n"


def lci(gpus) -> str:
    rows = [(i, g, ci) for i, (_, _, mig, gis) in enumerate(gpus) if mig for g in gis for ci in g[5]]
    if not rows:
        return "No compute instances found: Not Found\n"
    out = [BORDER, _row("Compute instances:"), _row("GPU     GPU       Name             Profile   Instance"),
           _row("      Instance                       ID        ID"), _row("        ID"), "|" + "=" * 68 + "|"]
    for i, (gi, _, name, _, _, _), ci in rows:
        out += [_row(f"{i:>3}    {gi:>3}       MIG {name:<14} {0:>4}     {ci:>4}"), BORDER]
    return "\n".join(out) + "\n"


def xml(gpus) -> str:
    out = ['<?xml version="1.0" ?>', "<nvidia_smi_log>"]
    for i, (u, name, mig, gis) in enumerate(gpus):
        mode = "Enabled" if mig else "Disabled"
        out += [f'<gpu id="00000000:{i + 16:02X}:00.0">', f"<product_name>{name}</product_name>",
                f"<mig_mode><current_mig>{mode}</current_mig><pending_mig>{mode}</pending_mig></mig_mode>",
                "<mig_devices>"]
        for n, (gi, ci) in enumerate(devices(gis)):
            out.append(f"<mig_device><index>{n}</index><gpu_instance_id>{gi}</gpu_instance_id>"
                       f"<compute_instance_id>{ci}</compute_instance_id></mig_device>")
        out += ["</mig_devices>", f"<uuid>{u}</uuid>", "<processes></processes>", "</gpu>"]
    return "\n".join(out + ["</nvidia_smi_log>"]) + "\n"


def sections(gpus, old_form: bool = False) -> dict[str, tuple[int, str]]:
    any_mig = any(g[2] for g in gpus)
    return {"query": (0, query(gpus)), "list": (0, listing(gpus, old_form)),
            "lgi": (0 if any_mig else 6, lgi(gpus) if any_mig else "No MIG-enabled devices found."),
            "lci": (0 if any_mig else 6, lci(gpus) if any_mig else "No MIG-enabled devices found."),
            "xml": (0, xml(gpus))}


def seven_1g(uuid: str = "GPU-11111111-2222-3333-4444-555555555555", gis: int = 7):
    """An A100-40GB with `gis` 1g.5gb GPU instances, one compute instance each."""
    return (uuid, "NVIDIA A100-SXM4-40GB", True,
            [(g + 7, 19, "1g.5gb", g, 1, [0]) for g in range(gis)])
