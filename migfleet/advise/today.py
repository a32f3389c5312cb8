"""Today's layout and models per GPU, as the inventory asks for them (no host is contacted).

Each GPU named in a host's `gpu_models` gets its rules' instances, placed by the planner's own
fit on an empty GPU; an instance's models are its `models` list, else its rule's, else none
given (every model of the repository).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from migfleet.advise.problem import Assignment, Gpu
from migfleet.mig import catalog
from migfleet.mig.desired import GpuRef, RuleError, parse_rules, resolve_refs
from migfleet.mig.fit import LayoutError, fit_models


class TodayError(ValueError):
    """A host whose layout advise cannot read; the message names the host and the field."""


@dataclass(frozen=True)
class Other:
    """A GPU advise leaves alone: MIG disabled, not selected by any rule, or a model not in the catalog."""
    index: int
    model: str
    uuid: str | None
    why: str            # "mig disabled" | "no rule" | "model not in the catalog[, laid out by a rule]"


def host_gpus(host: str, data: Mapping) -> tuple[list[Gpu], list[Other]]:
    models = data.get("gpu_models")
    if not isinstance(models, list) or not models:
        raise TodayError(f"{host}: gpu_models: advise needs the host's GPU models (gpu_models) to read its layout")
    uuids = data.get("gpu_uuids") if isinstance(data.get("gpu_uuids"), list) else []
    rules = data.get("mig_layout") or []
    refs = [GpuRef(i, str(m), uuids[i] if i < len(uuids) else None) for i, m in enumerate(models)]
    try:
        desired = resolve_refs(parse_rules(rules), refs, key=lambda g: g.index)
    except RuleError as exc:
        raise TodayError(f"{host}: {exc}") from None
    gpus, others = [], []
    for ref in refs:
        geometry = catalog.lookup(ref.model) or catalog.lookup(f"NVIDIA {ref.model}")
        want = desired.get(ref.index)
        if geometry is None:
            why = "model not in the catalog" + (", laid out by a rule" if want is not None else "")
            others.append(Other(ref.index, ref.model, ref.uuid, why))
        elif want is None:
            others.append(Other(ref.index, ref.model, ref.uuid, "no rule"))
        elif not want.mig_enabled:
            others.append(Other(ref.index, ref.model, ref.uuid, "mig disabled"))
        else:
            try:
                layout, models = fit_models(geometry, want.instances)
            except LayoutError as exc:
                raise TodayError(f"{host}: {exc.where or 'mig_layout'}: {exc.reason}") from None
            listed = tuple(frozenset(m.name for m in models[gi.start]) if gi.start in models else None
                           for gi in layout.gis)
            gpus.append(Gpu(ref.index, geometry, Assignment(layout, listed), ref.uuid))
    return gpus, others
