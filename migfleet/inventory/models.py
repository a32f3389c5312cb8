"""Models per MIG instance (`models` on a `mig_layout` instance, or on its rule as the default):
each named model is in the host's model repository, each model a rule lists is served by one of
its instances, and the files of the models an instance loads, alone and together, are no larger
than its memory. Each model of the repository is one Triton loads and the sync copies whole
(model_files: no link out of the repository, a version folder, its configured name its folder's).

Checked against the local model repository (the one the deploy syncs), each folder read once.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path

from migfleet.inventory import model_files
from migfleet.inventory.errors import InventoryError, bare, shown
from migfleet.inventory.layout import gpu_refs, host_geometries
from migfleet.inventory.paths import MODEL_REPOSITORY, local_path, models_in
from migfleet.mig.desired import DesiredInstance, Rule, RuleError, selects

MiB = 1 << 20
NAMED = 8           # model names a message lists, at most


@lru_cache(maxsize=64)
def max_batch_size(root: str, model: str) -> int:
    """The largest batch a model's own config.pbtxt takes (0: it does not batch, Triton's default)."""
    return model_files.read_max_batch_size(root, model)


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
                 bad: Mapping[str, set[str]], parsed: Mapping[str, Sequence[Rule]]) -> list[InventoryError]:
    """Every host's model repository as Triton reads it, and its `models` lists (`parsed`: each host's
    `mig_layout` rules, parsed once; a host without is one whose layout the schema refused) against
    the repository and its instances' memory."""
    errors = []
    for host, data in hosts.items():
        if data.get("mig_only") is True or MODEL_REPOSITORY in bad.get(host, set()):
            continue            # mig_only: nothing is synced; a bad setting: the schema said why
        rules = parsed.get(host, ())
        listed = any(r.models is not None or any(i.models is not None for i in r.layout.instances) for r in rules)
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
        for rule in rules:
            errors += _rule_errors(host, data, rule, repository, root)
    return errors


def _own(inst: DesiredInstance) -> bool:
    """Whether an instance lists models of its own (else its rule's, or none)."""
    return inst.models_where == f"{inst.where}.models"


def _first_listed(rules: Sequence[Rule]) -> dict[str, str]:
    """{model: the JSON path of the first `models` entry naming it} of a host's layout."""
    out: dict[str, str] = {}
    for rule in rules:
        lists = [(i.models_where, i.models) for i in rule.layout.instances if _own(i)]
        for path, names in [*lists, (f"{rule.where}.models", rule.models)]:
            for k, m in enumerate(names or ()):
                if m.name not in out:
                    out[m.name] = f"{path}[{k}]"
    return out


def _rule_errors(host: str, data: Mapping, rule: Rule, repository: Mapping[str, int],
                 root: Path) -> list[InventoryError]:
    instances, default = rule.layout.instances, rule.models
    out = []

    def unknown(path: str, names) -> None:
        seen = set()
        for k, m in enumerate(names or ()):
            if m.name in seen:
                out.append(InventoryError(host, f"{path}[{k}]", f"model {shown(m.name)} is listed twice"))
            seen.add(m.name)
            if m.name not in repository:
                out.append(InventoryError(host, f"{path}[{k}]", f"model {shown(m.name)} is not in the model repository "
                                          f"{root} (it has: {', '.join(bare(x) for x in sorted(repository))})"))
            elif m.max_batch_size:
                out.extend(InventoryError(host, f"{path}[{k}].max_batch_size", reason)
                           for reason in _batch_errors(m.name, m.max_batch_size, root))
    unknown(f"{rule.where}.models", default)
    for inst in instances:
        if _own(inst):
            unknown(inst.models_where, inst.models)
    if default and instances:
        served = {m.name for inst in instances for m in (inst.models or default)}
        out += [InventoryError(host, f"{rule.where}.models[{k}]", f"model {shown(m.name)} is listed for this rule, but "
                               "no instance of it serves it (each lists models of its own)")
                for k, m in enumerate(default) if m.name not in served]
    return out + _memory_errors(host, data, rule, repository)


def _batch_errors(model: str, wanted: int, root: Path) -> list[str]:
    """Why a model cannot batch up to `wanted` (model_files.setting_problems, over its own config)."""
    return model_files.setting_problems(model, max_batch_size(str(root), model), wanted)


def _memory_errors(host: str, data: Mapping, rule: Rule, repository: Mapping[str, int]) -> list[InventoryError]:
    """A model larger than the memory of an instance that loads it, on each GPU model the rule selects."""
    refs = gpu_refs(data)
    if refs is None:
        return []               # the GPUs are not known before a host is read
    try:
        models_here = sorted({r.model for r in refs if selects(rule.gpus, r)})
    except (RuleError, TypeError, KeyError):
        return []
    geometries = host_geometries(data)
    out = []
    for inst in rule.layout.instances:
        names = [m.name for m in inst.models] if inst.models else sorted(repository)
        path = inst.models_where if _own(inst) else inst.where
        for gpu_model in models_here:
            geometry = geometries.get(gpu_model)
            try:
                profile = geometry.profile(inst.profile) if geometry else None
            except (KeyError, TypeError):
                profile = None
            if profile is None or not profile.memory_mib:
                continue
            memory = f"the {size_text(profile.memory_mib * MiB)} of memory of a {profile.name} instance on {gpu_model}"
            sizes = {m: repository[m] for m in dict.fromkeys(names) if m in repository}
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
