"""The proposal as group data: a `mig_layout` in the form `migfleet import` writes, with each
instance's models (`models: [...]`) and its placements, so the planner reaches exactly the placed
layout advise scored.

One rule per GPU model when every GPU of that model in the inventory gets the same instances;
else one per GPU index when the GPUs at that index agree across hosts; else one per GPU UUID
(gpu_uuids). GPUs advise leaves alone keep what they have: MIG disabled stays a `mig: False`
rule, a GPU no rule selected stays unselected.

An existing module keeps everything but its `mig_layout` assignment, which is replaced.
"""
from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from pathlib import Path

from migfleet.advise.problem import Assignment
from migfleet.advise.today import Other
from migfleet.mig.geometry import Geometry


class WriteError(ValueError):
    """A proposal that cannot be written as group data; the message says why and what to do."""


def instances(geometry: Geometry, assignment: Assignment) -> list[dict]:
    grouped: dict[tuple, list[int]] = {}
    for gi, models in assignment.pairs():
        key = (geometry.profile(gi.profile_id).name, None if models is None else tuple(sorted(models)))
        grouped.setdefault(key, []).append(gi.start)
    out = []
    for (name, models), starts in grouped.items():
        entry: dict = {"profile": name, "placements": sorted(starts)}
        if models is not None:
            entry["models"] = list(models)
        out.append(entry)
    return out


def rules(gpus: Mapping[tuple[str, int], tuple[Geometry, Assignment, str | None]],
          others: Mapping[tuple[str, int], Other]) -> list[dict]:
    """mig_layout rules giving each (host, index) its assignment; others keep their state."""
    body: dict[tuple[str, int], tuple] = {}
    model_of: dict[tuple[str, int], str] = {}
    uuid_of: dict[tuple[str, int], str | None] = {}
    for key, (geometry, assignment, uuid) in gpus.items():
        body[key] = ("mig", repr(instances(geometry, assignment)))
        model_of[key], uuid_of[key] = geometry.model, uuid
    for key, other in others.items():
        if other.why.endswith("laid out by a rule"):
            raise WriteError(f"{key[0]}: GPU {key[1]} ({other.model}) is not in the catalog and a rule lays it out; "
                             "advise would drop that rule: write the proposal by hand, or advise an inventory "
                             "without that host")
        body[key] = ("disabled",) if other.why == "mig disabled" else ("none",)
        model_of[key], uuid_of[key] = other.model, other.uuid
    out: list[dict] = []
    left: list[tuple[str, int]] = []
    for model in sorted(set(model_of.values())):
        keys = [k for k in body if model_of[k] == model]
        kinds = {body[k] for k in keys}
        if len(kinds) == 1 and next(iter(kinds)) != ("none",):
            out.append(_rule({"model": model}, keys[0], gpus, body))
        else:
            left += [k for k in keys if body[k] != ("none",)]
    by_index: dict[int, list] = {}
    for k in body:
        by_index.setdefault(k[1], []).append(k)
    hosts = {k[0] for k in body}
    done = set()
    for index in sorted({k[1] for k in left}):
        keys = by_index[index]
        # An index rule needs that GPU on every host (validate refuses a rule naming a missing index).
        if len({body[k] for k in keys}) == 1 and {k[0] for k in keys} == hosts:
            out.append(_rule([index], keys[0], gpus, body))
            done.update(keys)
    for k in sorted(set(left) - done):
        if not uuid_of[k]:
            raise WriteError(f"{k[0]}: GPU {k[1]} gets a layout that other hosts' GPU {k[1]} do not, and a rule "
                             "cannot name one host's GPU without its UUID: add gpu_uuids to the host data, or put "
                             "the hosts in groups of their own and advise each group's inventory")
        out.append(_rule({"uuid": uuid_of[k]}, k, gpus, body))
    return out


def _rule(selector, key, gpus, body) -> dict:
    if body[key] == ("disabled",):
        return {"gpus": selector, "mig": False}
    geometry, assignment, _ = gpus[key]
    return {"gpus": selector, "instances": instances(geometry, assignment)}


def render(rules_: Sequence[dict], note: str) -> str:
    lines = ["mig_layout = ["]
    for rule in rules_:
        lines.append(f"    {rule!r},")
    lines.append("]")
    return f"# {note}\n" + "\n".join(lines) + "\n"


def module(rules_: Sequence[dict], note: str, existing: str | None) -> str:
    """The new module text: `existing` with its mig_layout assignment replaced, or a new module."""
    block = render(rules_, note)
    if existing is None:
        return ('"""MIG layouts and models per instance proposed by migfleet advise."""\n\n' + block)
    try:
        tree = ast.parse(existing)
    except SyntaxError as exc:
        raise WriteError(f"line {exc.lineno}: not Python ({exc.msg}); advise rewrites only its mig_layout "
                         "and leaves a module it cannot read alone") from None
    found = [n for n in tree.body if isinstance(n, (ast.Assign, ast.AnnAssign))
             and any(isinstance(t, ast.Name) and t.id == "mig_layout"
                     for t in (n.targets if isinstance(n, ast.Assign) else [n.target]))]
    lines = existing.splitlines(keepends=True)
    if not found:
        return existing + ("" if existing.endswith("\n") or not existing else "\n") + "\n" + block
    if len(found) > 1:
        raise WriteError(f"lines {', '.join(str(n.lineno) for n in found)}: mig_layout is assigned more than once; "
                         "advise replaces one plain assignment only")
    node = found[0]
    start, end = node.lineno - 1, node.end_lineno
    if start > 0 and lines[start - 1].startswith("# migfleet advise"):
        start -= 1      # the note of an earlier write goes with the rules it described
    return "".join(lines[:start]) + block + "".join(lines[end:])


def write(path: Path, rules_: Sequence[dict], note: str) -> None:
    existing = path.read_text(encoding="utf-8") if path.exists() else None
    text = module(rules_, note, existing)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".advise.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
