"""Desired MIG layout per GPU, from the inventory's `mig_layout` rules.

Rules apply in order; a later rule replaces the whole layout of the GPUs it selects.
Selectors: "all", [indexes], {"index": N}, {"model": "..."}, {"uuid": "GPU-..."}, {"pci_bus_id": "..."},
{"pci_device_id": "0x2330"} (another vendor than NVIDIA selects nothing). `shadowed` names rules
that later rules replace on every GPU they select.
GPUs that no rule selects are left alone (absent from the result).
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from migfleet.mig import catalog
from migfleet.mig.state import GpuState


class RuleError(ValueError):
    """A rule that cannot be applied to this host's GPUs; `where` is its JSON path."""

    def __init__(self, where: str, reason: str):
        self.where, self.reason = where, reason
        super().__init__(f"{where}: {reason}")


@dataclass(frozen=True)
class ComputeSpec:
    profile: str | int      # "1c.3g.20gb" or a compute instance profile ID
    count: int = 1


@dataclass(frozen=True)
class ServedModel:
    """A model an instance's Tritons load, and the Triton settings it loads with there (None: as its
    own config.pbtxt says): copies per instance group, and dynamic batching's largest batch (0: none)."""
    name: str
    instance_count: int | None = None
    max_batch_size: int | None = None

    @property
    def has_settings(self) -> bool:
        return self.instance_count is not None or self.max_batch_size is not None


@dataclass(frozen=True)
class DesiredInstance:
    """`count` GPU instances of `profile`, or one per explicit placement start."""
    profile: str | int
    count: int = 1
    placements: tuple[int, ...] | None = None
    compute: ComputeSpec | None = None          # None: one compute instance of the GI's full size
    where: str = field(default="", compare=False)   # JSON path in host data, for messages
    # the models its Tritons load (None: every model of the repository); not part of the MIG layout
    models: tuple[ServedModel, ...] | None = field(default=None, compare=False)
    models_where: str = field(default="", compare=False)    # the JSON path of that list (its own, or its rule's)

    @property
    def units(self) -> int:
        return len(self.placements) if self.placements is not None else self.count


@dataclass(frozen=True)
class DesiredGpu:
    mig_enabled: bool
    instances: tuple[DesiredInstance, ...] = ()


@dataclass(frozen=True)
class GpuRef:
    """What a selector can look at: a live GPU, or one declared in the inventory (uuid None)."""
    index: int
    model: str
    uuid: str | None = None
    pci_bus_id: str | None = None


# As nvidia-smi -L prints it. \Z, not $: "GPU-...\n" must not pass for a UUID.
GPU_UUID = re.compile(r"GPU-[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}\Z", re.IGNORECASE)


def selects(selector, gpu: GpuRef) -> bool:
    """Whether a rule's `gpus` selector picks this GPU."""
    if selector == "all":
        return True
    if isinstance(selector, list):
        return gpu.index in selector
    if isinstance(selector, Mapping):
        if "index" in selector:
            return gpu.index == selector["index"]
        if "model" in selector:
            return catalog.norm_model(gpu.model) == catalog.norm_model(selector["model"])
        if "uuid" in selector:
            return gpu.uuid is not None and gpu.uuid.lower() == str(selector["uuid"]).lower()
        if "pci_bus_id" in selector:
            return gpu.pci_bus_id is not None and catalog.bus_key(gpu.pci_bus_id) == catalog.bus_key(
                str(selector["pci_bus_id"]))
        if "pci_device_id" in selector:
            wanted = catalog.device_id_of(str(selector["pci_device_id"]))
            return wanted is not None and catalog.device_id(gpu.model) == wanted
    raise RuleError("gpus", f"unknown GPU selector {selector!r}")


def desired_from_rule(rule: Mapping, where: str) -> DesiredGpu:
    """One rule's layout (schema-valid input assumed)."""
    if rule.get("mig") is False:
        return DesiredGpu(False)
    out = []
    for i, inst in enumerate(rule.get("instances", ())):
        comp = inst.get("compute")
        placements = inst.get("placements")
        own = "models" in inst
        out.append(DesiredInstance(
            profile=inst["profile"], count=inst.get("count", 1),
            placements=tuple(placements) if placements is not None else None,
            compute=ComputeSpec(comp["profile"], comp.get("count", 1)) if comp else None,
            where=f"{where}.instances[{i}]", models=_models(inst.get("models", rule.get("models"))),
            models_where=f"{where}.instances[{i}].models" if own else f"{where}.models" if "models" in rule else ""))
    return DesiredGpu(True, tuple(out))


def _models(entries) -> tuple[ServedModel, ...] | None:
    """A `models` list: each entry a model's name, or its name with its Triton settings."""
    if not isinstance(entries, list):
        return None
    return tuple(ServedModel(str(e["name"]), e.get("instance_count"), e.get("max_batch_size")) if isinstance(e, Mapping)
                 else ServedModel(str(e)) for e in entries)


@dataclass(frozen=True)
class Rule:
    """One `mig_layout` rule, parsed once: its selector, its layout, its JSON path, and the models
    it lists as the default of its instances (None: it lists none)."""
    gpus: object
    layout: DesiredGpu
    where: str
    models: tuple[ServedModel, ...] | None = None


def parse_rules(rules: Sequence[Mapping]) -> list[Rule]:
    """The rules of one host (schema-valid input assumed)."""
    return [Rule(rule.get("gpus", "all"), desired_from_rule(rule, f"$.mig_layout[{n}]"), f"$.mig_layout[{n}]",
                 _models(rule.get("models")))
            for n, rule in enumerate(rules)]


def resolve_refs(rules: Sequence[Rule], gpus: Iterable[GpuRef], key=lambda g: g.uuid) -> dict:
    """Apply parsed rules to GPU references -> {key(gpu): DesiredGpu}."""
    gpus = list(gpus)
    indexes = {g.index for g in gpus}
    out = {}
    for rule in rules:
        where, sel = rule.where, rule.gpus
        wanted = sel if isinstance(sel, list) else [sel["index"]] if isinstance(sel, Mapping) and "index" in sel else []
        missing = sorted(set(wanted) - indexes)
        if missing:
            raise RuleError(f"{where}.gpus", f"selects GPU index {', '.join(map(str, missing))} but the "
                                             f"host has {_describe_indexes(indexes)}")
        if isinstance(sel, Mapping) and "uuid" in sel and not (
                isinstance(sel["uuid"], str) and GPU_UUID.match(sel["uuid"])):
            raise RuleError(f"{where}.gpus.uuid", f"{sel['uuid']!r} is not a GPU UUID (GPU- then 8-4-4-4-12 "
                                                  "hex digits, as nvidia-smi -L prints it)")
        for g in gpus:
            try:
                hit = selects(sel, g)
            except RuleError as exc:
                raise RuleError(f"{where}.gpus", exc.reason) from None
            if hit:
                out[key(g)] = rule.layout
    return out


def shadowed(rules: Sequence[Mapping], gpus: Sequence[GpuRef] | None) -> list[tuple[int, list[int]]]:
    """Rules that no GPU keeps, because later rules replace them on every GPU they select:
    [(rule number, [the later rules that decide those GPUs])]. Without GPUs (None), only a later
    "all" is known to replace a rule. Rules whose selector is not valid are left out. One pass over
    rules and GPUs: each GPU's last rule decides it."""
    valid = {n: r for n, r in enumerate(rules) if isinstance(r, Mapping)}
    last_all = max((n for n, r in valid.items() if r.get("gpus", "all") == "all"), default=-1)
    picks: dict[int, set[int]] = {}
    last: dict[int, int] = {}
    for n, rule in valid.items() if gpus is not None else ():
        try:
            picks[n] = {g.index for g in gpus if selects(rule.get("gpus", "all"), g)}
        except (RuleError, TypeError, ValueError, KeyError):
            continue
        last.update((i, n) for i in picks[n])
    out = []
    for n in valid:
        if last_all > n:
            out.append((n, [last_all]))     # a later "all" replaces it on every GPU, whichever those are
        elif picks.get(n) and all(last[i] > n for i in picks[n]):
            out.append((n, sorted({last[i] for i in picks[n]})))
    return out


def _describe_indexes(indexes: set[int]) -> str:
    if not indexes:
        return "no GPUs"
    return f"GPU {min(indexes)}" if len(indexes) == 1 else f"GPUs {min(indexes)}-{max(indexes)}"


def resolve(rules: Sequence[Mapping] | Sequence[Rule], gpus: Mapping[str, GpuState]) -> dict[str, DesiredGpu]:
    """The `mig_layout` rules of one host (as the inventory has them, or parsed once by a caller that
    reads them more than once) applied to its live GPUs -> {uuid: DesiredGpu}."""
    refs = [GpuRef(s.index, s.name, uuid, s.pci_bus_id) for uuid, s in gpus.items()]
    parsed = rules if rules and all(isinstance(r, Rule) for r in rules) else parse_rules(rules)
    return resolve_refs(parsed, refs)
