"""NVIDIA mig-parted configs (`version: v1`, `mig-configs`) to and from migfleet `mig_layout` rules.

Import follows what `nvidia-mig-parted apply -c NAME` does with one named config: entries apply in
order to the GPUs their `devices` and `device-filter` select (a later entry wins, as in
mig_layout), and `mig-devices` counts are created the way mig-parted creates them: profiles sorted
biggest first, and a compute-instance profile (`1c.3g.40gb`) packed into the last GPU instance of
its profile while it has room. Device filters become `{"model": ...}` selectors through the
catalog's `pci_device_id`. Every imported rule is checked with the planner's fit against the GPU
models it can reach.

The file is read with limits by migparted_read; counts beyond what any GPU holds are refused here
before anything is expanded. Values quoted in messages are cut short.

Export (the other way) is migparted_export.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from migfleet.fleet.migparted_read import MigPartedError
from migfleet.inventory.errors import cut, escaped, shown
from migfleet.inventory.module_edit import module_text
from migfleet.mig import catalog
from migfleet.mig import desired, fit

BOARD_GPUS = 8              # GPUs of an HGX board: a device index past it selects no GPU of most hosts
ENTRY_KEYS = {"device-filter", "devices", "mig-enabled", "mig-devices"}
# [<C>c.]<G>g.<N>gb[+attr...|-attr...], as mig-parted (go-nvlib) parses a profile
PROFILE = re.compile(r"^(?:(?P<c>\d+)c\.)?(?P<gi>(?P<g>\d+)g\.\d+gb(?:[+-][A-Za-z0-9.,]+)?)$")


@dataclass(frozen=True)
class Imported:
    rules: list[dict]                       # mig_layout rules, in the config's order
    checked: list[tuple[str, ...]]          # per rule: the GPU models its layout was fitted to
    notes: list[str] = field(default_factory=list)   # entries left out, and why
    warnings: list[str] = field(default_factory=list)   # legal, but probably not meant


# ---------------------------------------------------------------- catalog: PCI IDs and models

def models_by_id() -> dict[str, str]:
    return {pid: m for m in catalog.all_models() if (pid := catalog.packed_id(m))}


def resolve_model(name: str) -> str:
    """A catalog model from its product name (case and the `NVIDIA ` prefix optional) or PCI ID."""
    model = catalog.model_named(name)
    if model is not None:
        return model
    try:
        return models_by_id()[_canonical_id(name)]
    except (KeyError, ValueError):
        known = ", ".join(f"{m} ({catalog.packed_id(m)})" for m in catalog.all_models())
        raise MigPartedError(f"unknown GPU model {shown(name)}; migfleet knows {known}") from None


def _canonical_id(text: str) -> str:
    text = str(text).strip()
    if len(text) > 18:
        raise ValueError(f"{shown(text)} is not a 32-bit <device><vendor> PCI ID")
    raw = int(text, 0)
    if not 0 <= raw <= 0xFFFFFFFF:
        raise ValueError(f"{text} is not a 32-bit <device><vendor> PCI ID")
    return f"0x{raw:08X}"


def _where(source: str, name: str, index: int | None = None) -> str:
    return f"{source}: config {shown(name)}" + ("" if index is None else f", entry {index}")


def _filter_ids(entry: Mapping, where: str) -> list[str] | None:
    raw = entry.get("device-filter")
    if raw is None or raw == "" or raw == []:
        return None
    values = raw if isinstance(raw, list) else [raw]
    # An unquoted 0x20B010DE is a number to YAML; taken as the ID it spells.
    values = [f"0x{v:08X}" if isinstance(v, int) and not isinstance(v, bool) else v for v in values]
    if not all(isinstance(v, str) for v in values):
        raise MigPartedError(f"{where}: device-filter must be a PCI ID or a list of them, not {shown(raw)}")
    out = []
    for v in values:
        if ":" in v:
            raise MigPartedError(f"{where}: device-filter {v} names a PCI subsystem; migfleet selects GPUs "
                                 "by model only")
        try:
            pid = _canonical_id(v)
        except ValueError:
            raise MigPartedError(f"{where}: device-filter {shown(v)} is not a PCI ID such as 0x20B010DE") from None
        if catalog.device_id_of(pid) is None:
            raise MigPartedError(f"{where}: device-filter {pid}: vendor ID 0x{int(pid, 16) & 0xFFFF:04X} is not "
                                 f"NVIDIA's (0x{catalog.NVIDIA_VENDOR:04X})")
        out.append(pid)
    return out


def _devices(entry: Mapping, where: str):
    devices = entry.get("devices")
    if devices == "all":
        return "all"
    if isinstance(devices, list) and devices and all(
            isinstance(d, int) and not isinstance(d, bool) and 0 <= d < 2 ** 31 for d in devices):
        if len(set(devices)) != len(devices):
            raise MigPartedError(f"{where}: devices lists a GPU index twice: {shown(devices)}")
        return sorted(devices)
    raise MigPartedError(f"{where}: devices must be `all` or a list of GPU indexes, not {shown(devices)}")


def _gpu_instances(mig_devices: Mapping, where: str) -> list[tuple[str, tuple[int, ...]]]:
    """GPU instances mig-parted creates for `mig-devices`: (GI profile, compute slices of its CIs)."""
    units = []
    most = max(p.instances for m in catalog.all_models() for p in catalog.lookup(m).profiles)
    most_cis = 8        # compute instances of one GPU instance (at most its compute slices, 7)
    for text, count in mig_devices.items():
        m = PROFILE.match(str(text)) if isinstance(text, str) and text.isascii() else None
        if not m:
            raise MigPartedError(f"{where}: {shown(text)} is not a MIG profile such as 1g.10gb, 1g.10gb+me or 1c.3g.40gb")
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise MigPartedError(f"{where}: count of {text} must be a whole number >= 0, not {shown(count)}")
        g = int(m["g"])
        c = int(m["c"]) if m["c"] else g
        if not 1 <= c <= g:
            raise MigPartedError(f"{where}: {text}: a compute instance of {c} slices does not fit a {g}-slice GPU instance")
        # Refused before the list below is built: 10**12 instances must not be expanded.
        if count > (most * most_cis if m["c"] else most):
            raise MigPartedError(f"{where}: {count if count < 10 ** 18 else shown(count)} x {text} is more than any "
                                 f"GPU migfleet knows holds (at most {most} GPU instances of a profile)")
        units += [(g, c, m["gi"])] * count
    if mig_devices and not units:
        raise MigPartedError(f"{where}: every count of mig-devices is 0, so mig-parted would create no instance; "
                             "write `mig-devices: {}` if MIG enabled with no instances is meant")
    # mig-parted's creation order (MigConfig.Flatten): more GPU slices first, then bigger CIs, then
    # attributes in descending order (1g.10gb+me before 1g.10gb); stable sorts, last key first.
    units.sort(key=lambda u: u[2].partition("+")[2] or u[2].partition("-")[2], reverse=True)
    units.sort(key=lambda u: (-u[0], -u[1]))
    gis: list[tuple[str, int, list[int]]] = []
    for g, c, gi in units:
        last = gis[-1] if gis else None
        # A CI goes into the last GI of its profile while it fits (mig-parted reuses that GI);
        # a full-size CI never fits an occupied GI, so each one gets its own.
        if last and last[0] == gi and sum(last[2]) + c <= g:
            last[2].append(c)
        else:
            gis.append((gi, g, [c]))
    return [(gi, tuple(cis)) for gi, _, cis in gis]


def instances(mig_devices: Mapping, where: str) -> list[dict]:
    """mig_layout instances (count form) for the GPU instances mig-parted would create."""
    grouped: dict[tuple, int] = {}
    for gi, cis in _gpu_instances(mig_devices, where):
        g = int(gi.split("g.", 1)[0])
        if len(set(cis)) > 1:
            raise MigPartedError(f"{where}: mig-parted would put compute instances of "
                                 f"{' + '.join(f'{c}c' for c in cis)} slices into one {gi}; mig_layout takes one "
                                 "compute profile per GPU instance")
        compute = None if cis == (g,) else (f"{cis[0]}c.{gi}", len(cis))
        grouped[(gi, compute)] = grouped.get((gi, compute), 0) + 1
    out = []
    for (gi, compute), count in grouped.items():
        entry: dict = {"profile": gi, "count": count}
        if compute:
            entry["compute"] = {"profile": compute[0], "count": compute[1]}
        out.append(entry)
    return out


def _check_fit(rule: dict, models: Sequence[str], where: str, required: bool) -> tuple[str, ...]:
    """Models the rule's layout fits. required: every one must; else at least one must."""
    if rule.get("mig") is False:
        return tuple(models)
    wanted = desired.desired_from_rule(rule, "$").instances
    fits, reasons = [], []
    for model in models:
        try:
            fit.fit(catalog.lookup(model), wanted)
            fits.append(model)
        except fit.LayoutError as exc:
            reasons.append(f"{model}: {exc.reason}")
            if required:
                raise MigPartedError(f"{where}: {exc.reason}") from None
    if not fits:
        raise MigPartedError(f"{where}: fits none of the GPU models migfleet knows: " + "; ".join(reasons))
    return tuple(fits)


def _entry(entry, where: str, warnings: list[str]):
    """An entry's devices and the body of its rule(s); past-the-board indexes go to `warnings`."""
    if not isinstance(entry, Mapping) or set(entry) - ENTRY_KEYS or not {"devices", "mig-enabled"} <= set(entry):
        raise MigPartedError(f"{where}: an entry holds `devices`, `mig-enabled`, and optionally "
                             f"`device-filter` and `mig-devices`; got {shown(entry)}")
    devices = _devices(entry, where)
    past = [d for d in devices if d >= BOARD_GPUS] if devices != "all" else []
    if past:
        warnings.append(f"{where}: devices {', '.join(map(str, past))}: past the {BOARD_GPUS} GPUs of an "
                        "HGX board; a host with fewer GPUs has no such GPU (validate refuses the rule "
                        "for hosts whose gpu_models are shorter)")
    enabled, mig_devices = entry["mig-enabled"], entry.get("mig-devices")
    if not isinstance(enabled, bool):
        raise MigPartedError(f"{where}: mig-enabled must be true or false, not {shown(enabled)}")
    if enabled and not isinstance(mig_devices, Mapping):
        raise MigPartedError(f"{where}: mig-enabled is true, so mig-devices (a profile -> count map) is required")
    if not enabled and mig_devices:
        raise MigPartedError(f"{where}: mig-devices given with mig-enabled false")
    return devices, ({"instances": instances(mig_devices, where)} if enabled else {"mig": False})


def import_config(spec: Mapping, name: str, source: str, gpu_models: Sequence[str] = ()) -> Imported:
    """mig_layout rules for mig-parted config `name`.

    gpu_models: the models of the hosts the rules are for (catalog names or PCI IDs). Given,
    entries whose device-filter matches none of them are left out (mig-parted skips them on
    such hosts too), filter IDs migfleet does not know are ignored, and every rule must fit
    every model it can select. Not given, every filter ID must be known, and a rule without a
    filter must fit at least one catalog model.
    """
    configs = spec["mig-configs"]
    if name not in configs:
        raise MigPartedError(f"{source}: no config {shown(name)}; it has "
                             f"{cut(', '.join(sorted(map(str, configs))), 400)}")
    entries = configs[name]
    if not isinstance(entries, list) or not entries:
        raise MigPartedError(f"{_where(source, name)}: wants a non-empty list of entries")
    targets = tuple(dict.fromkeys(resolve_model(m) for m in gpu_models))
    by_id = models_by_id()
    result = Imported(rules=[], checked=[])
    for i, entry in enumerate(entries):
        where = _where(source, name, i)
        devices, body = _entry(entry, where, result.warnings)
        ids = _filter_ids(entry, where)
        if ids is None:
            models, required = (targets, True) if targets else (tuple(catalog.all_models()), False)
            rule = {"gpus": devices, **body}
            result.checked.append(_check_fit(rule, models, where, required))
            result.rules.append(rule)
            continue
        unknown = [pid for pid in ids if pid not in by_id]
        if unknown and not targets:
            raise MigPartedError(f"{where}: device-filter {', '.join(unknown)} is no GPU model migfleet knows "
                                 f"(it knows {', '.join(f'{pid} {m}' for pid, m in by_id.items())}); "
                                 "pass the hosts' models (--gpu-model) to import only what applies to them")
        models = [by_id[pid] for pid in ids if pid in by_id and (not targets or by_id[pid] in targets)]
        if not models:
            result.notes.append(f"entry {i}: device-filter {', '.join(ids)} selects none of {', '.join(targets)}; left out")
            continue
        if devices != "all":
            raise MigPartedError(f"{where}: device-filter together with a list of devices selects GPUs by model "
                                 "and index at once; a mig_layout rule selects by one of them")
        for model in dict.fromkeys(models):
            rule = {"gpus": {"model": model}, **body}
            result.checked.append(_check_fit(rule, [model], where, True))
            result.rules.append(rule)
    if not result.rules:
        # mig-parted would change nothing on such hosts: most likely the wrong config for them.
        raise MigPartedError(f"{_where(source, name)}: no entry applies to {', '.join(targets)} "
                             f"({'; '.join(result.notes)})")
    return result


def _in_docstring(text: str) -> str:
    """Text that cannot end the module's docstring early (a config named with \"\"\" would run as code)."""
    return escaped(text).replace("\\", "\\\\").replace('"', '\\"')


def module_doc(source: str, name: str) -> str:
    """The docstring a module made by import starts with."""
    return (f'"""MIG layouts imported from mig-parted config {_in_docstring(shown(name))} of {_in_docstring(source)} '
            '(migfleet import mig-parted).\n\nProfiles and counts are those mig-parted would create; placements are '
            'chosen by migfleet.\n"""\n\n')


def layout_source(imported: Imported) -> str:
    """The rules as Python, each commented with the models it was fitted to."""
    lines = ["["]
    for rule, models in zip(imported.rules, imported.checked):
        lines.append(f"    # fits: {escaped(', '.join(models))}")
        lines.append(f"    {rule!r},")
    return "\n".join(lines + ["]"])


def notes(imported: Imported, source: str, name: str) -> list[str]:
    """The comment lines above mig_layout: where it came from, and what was left out."""
    return ([f"migfleet import: mig-parted config {shown(name)} of {source}"]
            + [f"migfleet import: left out {note}" for note in imported.notes])


def render_group_data(imported: Imported, source: str, name: str) -> str:
    """A group_data module defining `mig_layout` (what `import -o` writes into a new file)."""
    return module_text("mig_layout", layout_source(imported), notes(imported, source, name), module_doc(source, name))
