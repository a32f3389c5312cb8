"""Local paths in inventory data: a relative path is relative to the inventory file's folder.

An inventory given as a host list (`@local`, `h1,h2`) has no folder; the working directory stands
in for it, as pyinfra's own group_data lookup does. No default points into the installed package.
"""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from migfleet.inventory.errors import InventoryError

MODEL_REPOSITORY = "triton_model_repository"
VERSION_FOLDER = re.compile(r"[0-9]+")     # Triton's version folders: decimal digits (ASCII only)


def inventory_folder(inventory: str | os.PathLike | None) -> Path:
    """The folder relative paths of this inventory's data resolve against."""
    if inventory and Path(inventory).is_file():
        return Path(inventory).resolve().parent
    return Path.cwd()


def local_path(value: str, folder: Path) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else folder / path


def models_in(root: Path) -> list[str]:
    """Model folders of a Triton model repository: subfolders with a config.pbtxt or a numbered version
    folder (Triton's repository layout; hidden folders are not models)."""
    out = []
    for child in sorted(root.iterdir()):
        if child.name.startswith(".") or not child.is_dir():
            continue
        if (child / "config.pbtxt").is_file() or any(v.is_dir() and VERSION_FOLDER.fullmatch(v.name)
                                                       for v in child.iterdir()):
            out.append(child.name)
    return out


def repository_problem(value: str, folder: Path) -> str | None:
    """Why this model repository setting cannot be synced, in words; None when it can."""
    root = local_path(value, folder)
    where = f"{value!r}" if root == Path(value) else f"{value!r} (resolved against {folder}: {root})"
    if not root.exists():
        return (f"model repository {where} does not exist; set {MODEL_REPOSITORY} to your local Triton model "
                "repository (a relative path is relative to the inventory's folder)")
    if not root.is_dir():
        return f"model repository {where} is not a directory"
    try:
        found = models_in(root)
    except OSError as e:
        return f"model repository {where} cannot be read: {e.strerror or e}"
    if not found:
        return (f"model repository {where} holds no model: Triton wants one folder per model, each with a "
                "config.pbtxt or a numbered version folder")
    return None


def repository_errors(hosts: Mapping[str, Mapping], folder: Path, defaults: Mapping[str, object],
                      bad: Mapping[str, set[str]]) -> list[InventoryError]:
    """Every host whose model repository cannot be synced (each distinct path is looked at once)."""
    seen: dict[str, str | None] = {}
    errors = []
    for host, data in hosts.items():
        if MODEL_REPOSITORY in bad.get(host, set()) or data.get("mig_only") is True:
            continue        # the schema already said what is wrong with the value; mig_only: nothing is synced
        value = data.get(MODEL_REPOSITORY, defaults.get(MODEL_REPOSITORY))
        if not isinstance(value, str) or not value:
            continue
        if value not in seen:
            seen[value] = repository_problem(value, folder)
        if seen[value]:
            errors.append(InventoryError(host, f"$.{MODEL_REPOSITORY}", seen[value]))
    return errors
