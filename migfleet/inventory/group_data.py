"""Where pyinfra finds group data, and the one layout in which that depends on the working folder.

pyinfra reads `group_data/` in the working folder and in the inventory file's own folder (and any
folder given with its `--group-data`). A project laid out as `inventories/production.py` with
`group_data/` at the project root is read whole only when run from the project root: run from
anywhere else, pyinfra finds no group data, and every host loses its `mig_layout`, `gpu_models`
and every other key set there, without a word. Every migfleet command, and the deploy, stops in
that case with one line saying where to run from (or, for pyinfra, how to name the folder).

The same holds for the nearest folder above the inventory's that holds a `group_data/` (the project
root of `a/b/production.py`). An inventory folder with a `group_data/` of its own is read from
anywhere, so a `group_data/` further up is left alone: it belongs to other inventories.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path


def _holds_modules(folder: Path) -> bool:
    try:
        return folder.is_dir() and any(p.suffix == ".py" for p in folder.iterdir())
    except OSError:
        return False


def read_folders(inventory: str, cwd: str | os.PathLike, extra: Sequence[str] = ()) -> list[Path]:
    """The group_data folders pyinfra reads for this inventory, run from `cwd` (resolved)."""
    folders = [Path(cwd) / "group_data"]
    if Path(inventory).is_file():
        folders.append(Path(cwd, inventory).resolve().parent / "group_data")
    folders += [Path(cwd, d) for d in extra]
    return [f.resolve() for f in folders]


def missed_group_data(inventory: str, cwd: str | os.PathLike, extra: Sequence[str] = (),
                      pyinfra: bool = False) -> str | None:
    """One line when pyinfra, run from `cwd` with `--group-data` folders `extra`, would miss the
    `group_data/` beside the inventory's folder; None when it reads it or there is none to miss.
    `pyinfra`: the line also says how to name the folder on pyinfra's command line."""
    try:
        if not Path(cwd, inventory).is_file():
            return None         # a host list (`@local`, `h1,h2`) has no folder of its own
        folder = Path(cwd, inventory).resolve().parent
        if (folder / "group_data").exists():
            return None
        project = next((p for p in folder.parents if _holds_modules(p / "group_data")), None)
        if project is None:
            return None
        beside = (project / "group_data").resolve()
        if beside in read_folders(inventory, cwd, extra):
            return None
    except (OSError, ValueError):       # a path the system cannot even look at: the loader says why
        return None
    fix = f"run from {project}"
    if pyinfra:
        fix += f", or name the folder with pyinfra's --group-data {beside}"
    return (f"{inventory}: its group data, {beside}, is not read from {Path(cwd).resolve()} (pyinfra reads "
            f"group_data/ in the working folder and in the inventory's folder only): {fix}")
