"""Models per MIG instance (`models` on a `mig_layout` instance, or on its rule as the default):
each named model is in the host's model repository, each model a rule lists is served by one of
its instances, and the files of the models an instance loads, alone and together, are no larger
than its memory. Each model of the repository is one Triton loads and the sync copies whole
(model_files: no link out of the repository, a version folder, its configured name its folder's).

Checked against the local model repository (the one the deploy syncs), each folder read once.
"""
from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

from migfleet.inventory import model_files
from migfleet.inventory.errors import InventoryError, bare, shown
from migfleet.inventory.layout import gpu_refs, host_geometries
from migfleet.inventory.paths import MODEL_REPOSITORY, local_path, models_in
from migfleet.mig.desired import RuleError, selects

MiB = 1 << 20
NAMED = 8           # model names a message lists, at most


@lru_cache(maxsize=16)
def _repository(root: str) -> tuple[dict[str, int], tuple[tuple[str | None, str], ...]]:
    """({model: bytes of the files the sync copies}, ((model or None, problem), ...)) of a model
    repository: what model_files finds wrong with it, each with the model it concerns."""
    path = Path(root)
    models = models_in(path)
    tree = model_files.walk(path)
    sizes = model_files.sizes(path, tree)
    problems = [(None, p) for p in model_files.root_problems(tree, models)]
    problems += [(m, p) for m in models for p in model_files.model_problems(path, m, tree)]
    return {m: sizes.get(m, 0) for m in models}, tuple(problems)


def size_text(n: int) -> str:
    return f"{n / (1 << 30):.1f} GiB" if n >= 1 << 30 else f"{n / MiB:.0f} MiB"


def model_errors(hosts: Mapping[str, Mapping], folder: Path, defaults: Mapping[str, object],
                 bad: Mapping[str, set[str]]) -> list[InventoryError]:
    """Every host's model repository as Triton reads it, and its `models` lists against the repository
    and its instances' memory."""
    errors = []
    for host, data in hosts.items():
        if data.get("mig_only") is True or MODEL_REPOSITORY in bad.get(host, set()):
            continue            # mig_only: nothing is synced; a bad setting: the schema said why
        rules = data.get("mig_layout")
        rules = rules if isinstance(rules, list) and "mig_layout" not in bad.get(host, set()) else []
        listed = any(
            isinstance(r, Mapping) and ("models" in r or any(isinstance(i, Mapping) and "models" in i
                                                             for i in _list(r.get("instances")))) for r in rules)
        value = data.get(MODEL_REPOSITORY, defaults.get(MODEL_REPOSITORY))
        if not isinstance(value, str) or not value:
            continue
        root = local_path(value, folder)
        try:
            repository, problems = _repository(str(root)) if root.is_dir() else ({}, ())
        except OSError:
            continue            # repository_errors says why
        if not repository:
            continue            # repository_errors says why
        # A model's problem is told where the layout first names it, else at the repository setting.
        where = _first_listed(rules)
        errors += [InventoryError(host, where.get(m, f"$.{MODEL_REPOSITORY}"), p) for m, p in problems]
        if not listed:
            continue            # no model list: every Triton loads every model, as always
        for n, rule in enumerate(rules):
            if isinstance(rule, Mapping):
                errors += _rule_errors(host, data, n, rule, repository, root)
    return errors


def _list(value) -> list:
    return value if isinstance(value, list) else []


def _first_listed(rules: list) -> dict[str, str]:
    """{model: the JSON path of the first `models` entry naming it} of a host's layout."""
    out: dict[str, str] = {}
    for n, rule in enumerate(rules):
        if not isinstance(rule, Mapping):
            continue
        lists = [(f"$.mig_layout[{n}].instances[{i}]", inst.get("models"))
                 for i, inst in enumerate(_list(rule.get("instances"))) if isinstance(inst, Mapping)]
        for path, names in [*lists, (f"$.mig_layout[{n}]", rule.get("models"))]:
            for k, m in enumerate(_list(names)):
                if isinstance(m, str) and m not in out:
                    out[m] = f"{path}.models[{k}]"
    return out


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
            memory = f"the {size_text(profile.memory_mib * MiB)} of memory of a {profile.name} instance on {gpu_model}"
            sizes = {m: repository[m] for m in dict.fromkeys(names) if isinstance(m, str) and m in repository}
            alone = [InventoryError(host, path, f"model {shown(m)} has {size_text(size)} of files, more than {memory}")
                     for m, size in sizes.items() if size > profile.memory_mib * MiB]
            total = sum(sizes.values())
            if not alone and len(sizes) > 1 and total > profile.memory_mib * MiB:
                # one Triton loads them all into the one instance: each fitting alone is not enough
                named = ", ".join(shown(m) for m in list(sizes)[:NAMED]) + (
                    f" and {len(sizes) - NAMED} more" if len(sizes) > NAMED else "")
                alone.append(InventoryError(host, path, f"models {named} have {size_text(total)} of files together, "
                                            f"more than {memory}"))
            out += alone
    return out
