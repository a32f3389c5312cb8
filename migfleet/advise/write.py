"""The proposal as group data: a `mig_layout` in the form `migfleet import` writes, with each
instance's models (`models: [...]`) and its placements, so the planner reaches exactly the placed
layout advise scored.

One rule per GPU model when every GPU of that model in the inventory gets the same instances;
else one per GPU index when the GPUs at that index agree across hosts; else one per GPU UUID
(gpu_uuids). GPUs advise leaves alone keep what they have: MIG disabled stays a `mig: False`
rule, a GPU no rule selected stays unselected.

An existing module keeps every byte but its one `mig_layout` assignment, which is replaced
(migfleet.inventory.module_edit: atomic, checked by running the module again, or nothing at all).
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from migfleet.advise.problem import Assignment
from migfleet.advise.today import Other
from migfleet.inventory.module_edit import ModuleEditError, set_assignment
from migfleet.inventory.paths import inventory_folder
from migfleet.mig.geometry import Geometry

NEW_MODULE = '"""MIG layouts and models per instance proposed by migfleet advise."""\n\n'


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


def layout_source(rules_: Sequence[dict]) -> str:
    """The rules as Python, one rule a line."""
    return "[\n" + "".join(f"    {rule!r},\n" for rule in rules_) + "]"


def render(rules_: Sequence[dict], note: str) -> str:
    return f"# {note}\nmig_layout = {layout_source(rules_)}\n"


def _group_data(folder: Path) -> Path:
    """The group_data folder of an inventory in `folder`, as migfleet.inventory.group_data finds it:
    its own, else that of the nearest folder above holding group data modules (the checkout's
    inventories/ and group_data/); its own, made, when there is none."""
    if (folder / "group_data").is_dir():
        return folder / "group_data"
    for parent in folder.parents:
        candidate = parent / "group_data"
        with contextlib.suppress(OSError):
            if candidate.is_dir() and any(p.suffix == ".py" for p in candidate.iterdir()):
                return candidate
    return folder / "group_data"


def _shown(path: Path) -> Path:
    """`path` relative to the working folder when it is inside it (messages stay short)."""
    relative = os.path.relpath(path)
    return Path(relative) if not relative.startswith("..") else path


def target(inventory: str, given: str) -> Path:
    """The module `--write [FILE]` writes: next to the inventory, whatever the working folder.

    No FILE: group_data/<inventory name>.py. A group name (`a100_40`) or a path in group_data
    (`group_data/a100_40.py`): that module of the inventory's group_data. Any other path is taken as
    given. The inventory itself is refused."""
    inventory_path = Path(inventory)
    if not inventory_path.is_file() and not given:
        raise WriteError(f"{inventory} is not an inventory file, so it has no group_data module of its own: "
                         "name the module (--write group_data/GROUP.py)")
    folder = inventory_folder(inventory)
    parts = Path(given).parts
    if not given:
        path = _group_data(folder) / f"{inventory_path.stem}.py"
    elif len(parts) == 1 and "." not in given:
        path = _group_data(folder) / f"{given}.py"
    elif not Path(given).is_absolute() and parts[0] == "group_data" and len(parts) > 1:
        path = _group_data(folder).joinpath(*parts[1:])
    else:
        path = Path(given)
    path = _shown(path.absolute())
    if inventory_path.is_file() and path.exists() and path.resolve() == inventory_path.resolve():
        raise WriteError(f"{path}: is the inventory file; mig_layout goes in a group data module "
                         f"(--write with no FILE: {_shown(_group_data(folder) / (inventory_path.stem + '.py'))})")
    return path


def write(path: Path, rules_: Sequence[dict], note: str) -> str:
    """Set the module's mig_layout to the rules, keeping every other byte of it; refused (WriteError
    naming the file, nothing changed) where that cannot be done exactly. Returns what was done."""
    try:
        return set_assignment(path, "mig_layout", list(rules_), layout_source(rules_), [note], NEW_MODULE)
    except ModuleEditError as exc:
        raise WriteError(f"{exc}; advise wrote nothing") from None
