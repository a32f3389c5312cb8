"""Models per MIG instance (`models` on a `mig_layout` instance, or on its rule as the default):
each named model is in the host's model repository, each model a rule lists is served by one of
its instances, and no model's files are larger than the memory of an instance that loads it.

Checked against the local model repository (the one the deploy syncs), each folder read once.
"""
from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

from migfleet.inventory.errors import InventoryError, bare, shown
from migfleet.inventory.layout import gpu_refs, host_geometries
from migfleet.inventory.paths import MODEL_REPOSITORY, local_path, models_in
from migfleet.mig.desired import RuleError, selects

MiB = 1 << 20


@lru_cache(maxsize=16)
def _repository(root: str) -> dict[str, int]:
    """{model: bytes of its files} of a model repository (caches skipped, as the sync skips them)."""
    out = {}
    for model in models_in(Path(root)):
        out[model] = sum(p.stat().st_size for p in (Path(root) / model).rglob("*")
                         if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")
    return out


def size_text(n: int) -> str:
    return f"{n / (1 << 30):.1f} GiB" if n >= 1 << 30 else f"{n / MiB:.0f} MiB"


def model_errors(hosts: Mapping[str, Mapping], folder: Path, defaults: Mapping[str, object],
                 bad: Mapping[str, set[str]]) -> list[InventoryError]:
    """Every host's `models` lists against its model repository and its instances' memory."""
    errors = []
    for host, data in hosts.items():
        rules = data.get("mig_layout")
        if data.get("mig_only") is True or not isinstance(rules, list) or {"mig_layout", MODEL_REPOSITORY} & bad.get(host, set()):
            continue
        if not any(isinstance(r, Mapping) and ("models" in r or any(isinstance(i, Mapping) and "models" in i
                                                                  for i in r.get("instances") or ())) for r in rules):
            continue            # no model list: every Triton loads every model, as always
        root = local_path(str(data.get(MODEL_REPOSITORY, defaults.get(MODEL_REPOSITORY)) or ""), folder)
        try:
            repository = _repository(str(root)) if root.is_dir() else None
        except OSError:
            repository = None
        if not repository:
            continue            # repository_errors says why
        for n, rule in enumerate(rules):
            if isinstance(rule, Mapping):
                errors += _rule_errors(host, data, n, rule, repository, root)
    return errors


def _rule_errors(host: str, data: Mapping, n: int, rule: Mapping, repository: Mapping[str, int],
                 root: Path) -> list[InventoryError]:
    where = f"$.mig_layout[{n}]"
    instances = [i for i in rule.get("instances") or () if isinstance(i, Mapping)]
    default = rule.get("models")
    out = []

    def unknown(path: str, names) -> None:
        for k, m in enumerate(names or ()):
            if m not in repository:
                out.append(InventoryError(host, f"{path}.models[{k}]", f"model {shown(m)} is not in the model repository "
                                          f"{root} (it has: {', '.join(bare(x) for x in sorted(repository))})"))
    unknown(where, default)
    for i, inst in enumerate(instances):
        unknown(f"{where}.instances[{i}]", inst.get("models"))
    if default and instances:
        served = {m for inst in instances for m in (inst.get("models") or default)}
        out += [InventoryError(host, f"{where}.models[{k}]", f"model {shown(m)} is listed for this rule, but no instance "
                               "of it serves it (each lists models of its own)")
                for k, m in enumerate(default) if m not in served]
    return out + _memory_errors(host, data, where, rule, instances, repository)


def _memory_errors(host: str, data: Mapping, where: str, rule: Mapping, instances: list[Mapping],
                   repository: Mapping[str, int]) -> list[InventoryError]:
    """A model larger than the memory of an instance that loads it, on each GPU model the rule selects."""
    refs = gpu_refs(data)
    if refs is None:
        return []               # the GPUs are not known before a host is read
    try:
        models_here = sorted({r.model for r in refs if selects(rule.get("gpus", "all"), r)})
    except (RuleError, TypeError, KeyError):
        return []
    geometries = host_geometries(data)
    out = []
    for i, inst in enumerate(instances):
        names = inst.get("models") or rule.get("models") or sorted(repository)
        path = f"{where}.instances[{i}]" + (".models" if inst.get("models") else "")
        for gpu_model in models_here:
            geometry = geometries.get(gpu_model)
            try:
                profile = geometry.profile(inst.get("profile")) if geometry else None
            except (KeyError, TypeError):
                profile = None
            if profile is None or not profile.memory_mib:
                continue
            for m in names:
                size = repository.get(m)
                if size is not None and size > profile.memory_mib * MiB:
                    out.append(InventoryError(host, path, f"model {shown(m)} has {size_text(size)} of files, more than "
                                              f"the {size_text(profile.memory_mib * MiB)} of memory of a {profile.name} "
                                              f"instance on {gpu_model}"))
    return out
