"""MIG layout checks of one host's data (run only on schema-valid MIG keys).

Geometry is always checked: a host with a `mig_layout` names its GPUs in `gpu_models` (or
`validate --live` reads them), and each selected GPU's layout is fitted against its model by the
planner's own `fit` (counts and compute profiles checked before anything is expanded), once per GPU.
Profile names are checked against the catalog first, so a typo is named even where no model is
known (and then counts and compute profiles against every model's).
"""
from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from migfleet.inventory.errors import InventoryError, bare, json_path, shown
from migfleet.mig import catalog
from migfleet.mig.catalog import bus_key, device_id_of, norm_model
from migfleet.mig.desired import GpuRef, Rule, RuleError, parse_rules, resolve_refs, selects
from migfleet.mig.geometry import Geometry, Profile
from migfleet.mig.fit import LayoutError, compute_reason, fit


@dataclass(frozen=True)
class Fleet:
    """What the whole inventory knows, for selectors that name a GPU no host of theirs has."""
    models: frozenset[str] = frozenset()       # every model of every host's gpu_models (or live)
    uuids: frozenset[str] = frozenset()        # every UUID of every host's gpu_uuids (or live), lower case


def host_geometries(data: Mapping) -> dict[str, Geometry]:
    """Catalog geometries plus the host's mig_models, by model name."""
    out = {m: catalog.lookup(m) for m in catalog.all_models()}
    for model, extra in (data.get("mig_models") or {}).items():
        out[model] = Geometry(
            model=model, architecture=extra["architecture"], memory_mib=extra["memory_mib"],
            memory_slices=extra.get("memory_slices", 8), compute_slices=extra.get("compute_slices", 7),
            profiles=tuple(Profile(id=p["id"], name=p["name"], slices=p["slices"], instances=p["instances"],
                                   memory_mib=p.get("memory_mib", 0), sm=0, ce=0, dec=0, enc=0, jpeg=0, ofa=0,
                                   placements=tuple(tuple(x) for x in p["placements"]))
                           for p in extra["profiles"]))
    return out


def _profile_on(geometry: Geometry, ref) -> Profile | None:
    try:
        return geometry.profile(ref)
    except KeyError:
        return None


def _ref_text(ref) -> str:
    return str(ref) if isinstance(ref, int) else shown(ref)


def catalog_errors(host: str, rules: Sequence[Rule], geometries: Mapping[str, Geometry],
                   limits: bool = True) -> list[InventoryError]:
    """Profiles that no known GPU model offers; with `limits`, also counts and compute profiles
    beyond every model's (where the host's models are unknown, so nothing is fitted)."""
    out = []
    for inst in (i for rule in rules for i in rule.layout.instances):
        found = [(g, p) for g in geometries.values() if (p := _profile_on(g, inst.profile)) is not None]
        if not found:
            names = sorted({p.name for g in geometries.values() for p in g.profiles})
            close = difflib.get_close_matches(str(inst.profile), names, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]}?)" if close else ""
            out.append(InventoryError(host, f"{inst.where}.profile", f"profile {_ref_text(inst.profile)} is not a "
                                      f"MIG profile of any known GPU model{hint}"))
            continue
        if not limits:
            continue
        limit = max(p.instances for _, p in found)
        if inst.units > limit:
            name = found[0][1].name
            out.append(InventoryError(host, inst.where, f"{inst.units} x {name} is more than any known GPU "
                                      f"model holds (at most {limit})"))
        if inst.compute is not None:
            reasons = [compute_reason(g, p, inst.compute) for g, p in found]
            if all(reasons):
                out.append(InventoryError(host, f"{inst.where}.compute.profile", reasons[0]))
    return out


def gpu_refs(data: Mapping) -> list[GpuRef] | None:
    models = data.get("gpu_models")
    if not isinstance(models, list):
        return None         # absent, or of the wrong type (the schema reports that)
    uuids = data.get("gpu_uuids")
    uuids = uuids if isinstance(uuids, list) else []
    buses = data.get("gpu_pci_bus_ids")
    buses = buses if isinstance(buses, list) else []
    return [GpuRef(i, m, uuids[i] if i < len(uuids) else None, buses[i] if i < len(buses) else None)
            for i, m in enumerate(models)]


def layout_errors(host: str, data: Mapping, gpus: list[GpuRef] | None, fleet: Fleet,
                  rules: list[Rule] | None = None) -> list[InventoryError]:
    """Every MIG layout problem of one host whose MIG keys passed the schema (`rules`: its
    `mig_layout` parsed already, else parsed here)."""
    rules = parse_rules(data.get("mig_layout") or []) if rules is None else rules
    geometries = host_geometries(data)
    out = catalog_errors(host, rules, geometries, limits=gpus is None)
    if not rules:
        return out
    if gpus is None:
        return out + [InventoryError(host, "$.gpu_models", "required with a mig_layout: list the product names "
                                     "of the host's GPUs in index order, as nvidia-smi prints them (or run "
                                     "validate --live to read them from the hosts)")]
    if not gpus:
        return out + [InventoryError(host, "$.gpu_models", f"no GPU, but mig_layout has {len(rules)} rule(s), which "
                                     "would never be fitted: list the host's GPUs (or leave mig_layout out)")]
    for key, what in (("gpu_uuids", "UUID(s)"), ("gpu_pci_bus_ids", "PCI bus ID(s)")):
        said = data.get(key)
        if said is not None and len(said) != len(gpus):
            out.append(InventoryError(host, f"$.{key}", f"{len(said)} {what} for {len(gpus)} GPU(s) in gpu_models"))
    out += _selector_errors(host, data["mig_layout"], gpus, fleet, geometries)
    if out:
        return out
    try:
        desired = resolve_refs(rules, gpus, key=lambda g: g.index)
    except RuleError as e:
        return [InventoryError(host, e.where, e.reason)]
    found: dict[tuple[str, str], list[int]] = {}
    for index, want in desired.items():
        if not want.mig_enabled:
            continue
        model = gpus[index].model
        geometry = geometries.get(model)
        if geometry is None:
            key = (f"$.gpu_models[{index}]", f"no MIG geometry known for {bare(model)}; describe it under mig_models")
        else:
            try:
                fit(geometry, want.instances)
                continue
            except LayoutError as e:
                key = (e.where or "$.mig_layout", e.reason)
        found.setdefault(key, []).append(index)
    return [InventoryError(host, path, f"GPU {_indexes(ix)}: {reason}") for (path, reason), ix in found.items()]


def _selector_errors(host, rules, gpus: list[GpuRef], fleet: Fleet, geometries) -> list[InventoryError]:
    """UUID rules need UUIDs to be fitted; model and UUID selectors must name a GPU the fleet has."""
    out = []
    have_uuids = any(g.uuid for g in gpus)
    for n, rule in enumerate(rules):
        sel = rule.get("gpus")
        if not isinstance(sel, Mapping):
            continue
        where = f"$.mig_layout[{n}].gpus"
        if "uuid" in sel:
            uuid = sel["uuid"].lower()
            if not have_uuids and rule.get("mig") is False:
                continue        # turning MIG off needs no geometry, so no model to check it against
            if not have_uuids:
                out.append(InventoryError(host, where, "a rule by UUID can only be checked against its GPU's "
                                          "model: list the host's gpu_uuids beside gpu_models (or run validate --live)"))
            elif not any((g.uuid or "").lower() == uuid for g in gpus) and uuid not in fleet.uuids:
                out.append(InventoryError(host, where, f"selects {sel['uuid']}, which is no GPU of this host "
                                          f"(its GPUs: {', '.join(g.uuid or '?' for g in gpus)})"))
        elif "pci_bus_id" in sel:
            if not any(g.pci_bus_id for g in gpus):
                out.append(InventoryError(host, where, "a rule by PCI bus ID can only be checked against its GPU's "
                                          "model: list the host's gpu_pci_bus_ids beside gpu_models (or run "
                                          "validate --live)"))
            elif not any(selects(sel, g) for g in gpus):
                out.append(InventoryError(host, where, f"selects {sel['pci_bus_id']}, which is no GPU of this host "
                                          f"(its GPUs: {', '.join(g.pci_bus_id or '?' for g in gpus)})"))
        elif "pci_device_id" in sel:
            ids = {m: d["pci_device_id"] for m in catalog.all_models() if (d := catalog.model_data(m)).get("pci_device_id")}
            if device_id_of(sel["pci_device_id"]) is None:
                out.append(InventoryError(host, f"{where}.pci_device_id", f"{sel['pci_device_id']}: vendor ID "
                                          f"0x{int(sel['pci_device_id'], 16) & 0xFFFF:04X} is not NVIDIA's "
                                          f"(0x{catalog.NVIDIA_VENDOR:04X}); "
                                          "write the device ID alone (0x2330) or with NVIDIA's (0x233010DE)"))
            elif not any(selects(sel, GpuRef(0, m)) for m in ids):
                known = ", ".join(f"{i} {m}" for m, i in ids.items())
                out.append(InventoryError(host, where, f"PCI device ID {sel['pci_device_id']} is no GPU model "
                                          f"migfleet knows ({known})"))
        elif "model" in sel:
            model = sel["model"]
            known = set(geometries) | set(fleet.models) | {g.model for g in gpus}
            if not any(norm_model(model) == norm_model(k) for k in known):
                close = difflib.get_close_matches(model, sorted(known), n=1, cutoff=0.6)
                hint = f"; did you mean {bare(close[0])}?" if close else ""
                out.append(InventoryError(host, where, f"selects model {bare(model)}, which no host of the inventory "
                                          f"has and no known geometry describes{hint}"))
    return out


def identity_errors(host: str, data: Mapping) -> list[InventoryError]:
    """The same GPU twice in one host's list: UUIDs that differ only in case, bus IDs in two spellings."""
    out = []
    for key, norm in (("gpu_uuids", str.lower), ("gpu_pci_bus_ids", bus_key)):
        seen: dict[str, int] = {}
        values = data.get(key)
        for i, value in enumerate(values if isinstance(values, list) else ()):
            if not isinstance(value, str):
                continue
            k = norm(value)
            if k in seen:
                out.append(InventoryError(host, f"$.{key}[{i}]", f"{value} is also entry {seen[k]} "
                                          f"({data[key][seen[k]]}): one GPU, written twice"))
            seen.setdefault(k, i)
    return out


def geometry_errors(host: str, data: Mapping) -> list[InventoryError]:
    """mig_models entries the planner could not use: a profile ID or name twice, a placement past the
    last memory slice."""
    out = []
    for model, extra in (data.get("mig_models") or {}).items():
        base = json_path(("mig_models", model))
        slices = extra.get("memory_slices", 8)
        ids: dict[int, int] = {}
        names: dict[str, int] = {}
        for i, p in enumerate(extra["profiles"]):
            where = f"{base}.profiles[{i}]"
            if p["id"] in ids:
                out.append(InventoryError(host, f"{where}.id", f"profile ID {p['id']} is also profile {ids[p['id']]}'s"))
            if p["name"] in names:
                out.append(InventoryError(host, f"{where}.name", f"profile {shown(p['name'])} is also profile "
                                          f"{names[p['name']]}"))
            ids.setdefault(p["id"], i)
            names.setdefault(p["name"], i)
            for j, (start, size) in enumerate(tuple(x) for x in p["placements"]):
                if start + size > slices:
                    out.append(InventoryError(host, f"{where}.placements[{j}]", f"slices {start}-{start + size - 1} "
                                              f"go past the last of the model's {slices} memory slices"))
    return out


def _indexes(ix: list[int]) -> str:
    if len(ix) > 2 and ix == list(range(ix[0], ix[-1] + 1)):
        return f"{ix[0]}-{ix[-1]}"
    return ", ".join(map(str, ix))
