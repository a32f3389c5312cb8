"""A Triton model repository as the deploy syncs it and as Triton reads it.

One walk (`walk`) decides both what the sync uploads (deploys/serving_plan) and what validate sizes
and checks, so the two cannot disagree:
- regular files, and links to files inside the repository (uploaded as the file they point to);
- folders, and links to folders inside the repository (followed; a link back to a folder it sits
  in would never end, and is refused as a loop);
- a link that leaves the repository is never uploaded, and validate refuses it: the sync would
  otherwise copy a file of the deploy machine (any file the link names) to every host.
Caches (__pycache__, *.pyc: migfleet.bytecode's rule, which facts.trees' find follows too) are
skipped, and so are names holding a newline (no manifest line can hold them: facts.trees leaves
them out on the host too).

`problems` then reads each model as Triton does: at least one numeric version folder, and a
config.pbtxt whose top-level `name`, where it has one, is its folder's name.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from migfleet import bytecode
from migfleet.inventory.errors import cut, escaped, plain, shown
from migfleet.inventory.paths import VERSION_FOLDER

CONFIG = "config.pbtxt"
_WORD = re.compile(r"[A-Za-z0-9_]+")    # a field name (protobuf text format identifiers are ASCII)
CONFIG_READ_LIMIT = 1 << 20         # bytes of a config.pbtxt read for its name (it comes first, in practice)


@dataclass(frozen=True)
class Link:
    """A link the sync does not follow: out of the repository, or back into a folder it sits in."""
    path: str           # relative to the repository
    target: str         # as the link says it (os.readlink)
    loop: bool = False


@dataclass(frozen=True)
class Tree:
    files: tuple[Path, ...]         # what the sync uploads, under the repository's path as given
    refused: tuple[Link, ...]
    unreadable: tuple[str, ...] = ()    # folders (relative) that could not be listed: the sync would miss them


def _inside(real: str, real_root: str) -> bool:
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


def walk(root: Path) -> Tree:
    """The files of the repository at `root` the sync uploads, and the links it refuses (sorted)."""
    real_root = os.path.realpath(root)
    files: list[Path] = []
    refused: list[Link] = []
    unreadable: list[str] = []
    stack: list[tuple[Path, tuple[str, ...]]] = [(Path(root), (real_root,))]
    while stack:
        folder, above = stack.pop()
        try:
            with os.scandir(folder) as entries:
                found = sorted(entries, key=lambda e: e.name)
        except OSError:
            if folder == Path(root):
                raise           # the repository itself: paths.repository_problem says why
            unreadable.append(str(folder.relative_to(root)))
            continue
        for entry in found:
            if "\n" in entry.name or bytecode.cache_name(entry.name):
                continue
            path = folder / entry.name
            if entry.is_symlink():
                real = os.path.realpath(path)
                if not _inside(real, real_root):
                    refused.append(Link(str(path.relative_to(root)), os.readlink(path)))
                elif os.path.isdir(real):
                    if real in above:
                        refused.append(Link(str(path.relative_to(root)), os.readlink(path), loop=True))
                    else:
                        stack.append((path, above + (real,)))
                elif os.path.isfile(real) and not bytecode.cache_file(entry.name):
                    files.append(path)
            elif entry.is_dir(follow_symlinks=False):
                stack.append((path, above + (os.path.realpath(path),)))
            elif entry.is_file(follow_symlinks=False) and not bytecode.cache_file(entry.name):
                files.append(path)
    return Tree(tuple(sorted(files)), tuple(sorted(refused, key=lambda link: link.path)), tuple(sorted(unreadable)))


def sizes(root: Path, tree: Tree) -> dict[str, int]:
    """{first path part (a model's folder): bytes of the files the sync uploads under it}."""
    out: dict[str, int] = {}
    for p in tree.files:
        rel = p.relative_to(root)
        if len(rel.parts) > 1:
            out[rel.parts[0]] = out.get(rel.parts[0], 0) + p.stat().st_size
    return out


def _string(text: str, i: int) -> tuple[str, int] | None:
    """The protobuf text-format string literal starting at text[i] (a quote) and the index after it."""
    quote, out, i = text[i], [], i + 1
    escapes = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"'}
    while i < len(text) and text[i] not in (quote, "\n"):
        if text[i] == "\\" and i + 1 < len(text):
            out.append(escapes.get(text[i + 1], text[i + 1]))
            i += 2
        else:
            out.append(text[i])
            i += 1
    return ("".join(out), i + 1) if i < len(text) and text[i] == quote else None


def _skip_space(text: str, i: int) -> int:
    while i < len(text):
        if text[i] == "#":
            end = text.find("\n", i)
            i = len(text) if end < 0 else end
        elif text[i].isspace():
            i += 1
        else:
            break
    return i


def config_name(text: str) -> tuple[str, int, str] | None:
    """The top-level `name` of a config.pbtxt (protobuf text format): (name, line number, the line),
    or None where it sets none, or its value is not a string (Triton's own parser says why). Names of
    inputs, outputs and other nested messages are not the model's: only depth 0 counts."""
    depth, i, n = 0, 0, len(text)
    while i < n:
        c = text[i]
        if c == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif c in "\"'":
            after = _string(text, i)
            if after is None:
                return None         # an unterminated string: not a config Triton reads either
            i = after[1]
        elif c in "{[<":
            depth, i = depth + 1, i + 1
        elif c in "}]>":
            depth, i = max(depth - 1, 0), i + 1
        elif c.isascii() and (c.isalpha() or c == "_"):
            word = _WORD.match(text, i).group()
            i += len(word)
            if depth == 0 and word == "name":
                j = _skip_space(text, i)
                if j < n and text[j] == ":":
                    j = _skip_space(text, j + 1)
                    if j < n and text[j] in "\"'":
                        parts, field = [], i - len(word)
                        while j < n and text[j] in "\"'":        # adjacent literals are one string
                            lit = _string(text, j)
                            if lit is None:
                                return None
                            parts.append(lit[0])
                            end = lit[1]
                            j = _skip_space(text, end)
                        line = text.count("\n", 0, field) + 1
                        return "".join(parts), line, re.sub(r"\s*\n\s*", " ", text[field:end])
                    return None
        else:
            i += 1
    return None


# a config.pbtxt's own max_batch_size: a top-level field (nested blocks indent theirs)
_MAX_BATCH = re.compile(r"^max_batch_size\s*:\s*(\d+)\s*$", re.MULTILINE)


def config_max_batch_size(text: str) -> int:
    """The largest batch a config.pbtxt's text takes (0: it does not batch, Triton's default)."""
    found = _MAX_BATCH.search(text)
    return int(found[1]) if found else 0


def read_max_batch_size(root: str | Path, model: str) -> int:
    """`config_max_batch_size` of a model folder's config.pbtxt (0 where it has none, or it cannot be read)."""
    try:
        with open(Path(root) / model / CONFIG, "rb") as fh:
            return config_max_batch_size(fh.read(CONFIG_READ_LIMIT).decode("utf-8", errors="replace"))
    except OSError:
        return 0


def setting_problems(model: str, own_max_batch: int, wanted: int | None) -> list[str]:
    """Why a model whose config.pbtxt has max_batch_size `own_max_batch` cannot run with dynamic batching
    up to `wanted` (None or 0: no batching, always fine): Triton refuses a batch over its config's
    max_batch_size, and a model of max_batch_size 0 takes no batch dimension at all (turning batching
    on would change its inputs' shapes)."""
    if not wanted:
        return []
    if own_max_batch == 0:
        return [f"model {shown(model)} does not batch (its config.pbtxt has max_batch_size 0): dynamic batching "
                f"cannot be turned on for it; give max_batch_size 0 or leave it out"]
    if wanted > own_max_batch:
        return [f"{wanted} is more than model {shown(model)} takes: its config.pbtxt has max_batch_size {own_max_batch}"]
    return []


def _link_words(link: Link, what: str) -> str:
    if link.loop:
        return f"{what} is a link to {shown(link.target)}, a folder that holds the link: a loop"
    return (f"{what} is a link to {shown(link.target)}, outside the model repository: the sync sends the "
            "hosts only files inside it (copy the file in, or link to one inside)")


def model_problems(root: Path, model: str, tree: Tree) -> list[str]:
    """Why Triton (or the sync) would not take this model folder as it is, in words, each beginning
    with the model's name."""
    name_shown = shown(model)
    mine = [link for link in tree.refused if Path(link.path).parts[0] == model]
    out = [f"model {name_shown}: " + _link_words(link, "its folder" if link.path == model else link.path)
           for link in mine]
    out += [f"model {name_shown}: {plain(rel)} cannot be read: the sync would leave it out"
            for rel in tree.unreadable if Path(rel).parts[0] == model]
    if any(link.path == model for link in mine):
        return out
    folder = root / model
    try:
        children = sorted(folder.iterdir(), key=lambda p: p.name)
    except OSError as e:
        return out + [f"model {name_shown}: its folder cannot be read: {e.strerror or e}"]
    if not any(VERSION_FOLDER.fullmatch(c.name) and c.is_dir() for c in children):
        has = ", ".join(escaped(c.name) + ("/" if c.is_dir() else "") for c in children[:10]) or "nothing"
        has += f" and {len(children) - 10} more" if len(children) > 10 else ""
        out.append(f"model {name_shown} has no version folder: Triton loads a model's versions from folders "
                   f"named by number (1/, 2/, ...); it has: {has}")
    config = folder / CONFIG
    if config.is_file() and f"{model}/{CONFIG}" not in {link.path for link in mine}:     # never read from outside
        try:
            with open(config, "rb") as fh:
                raw = fh.read(CONFIG_READ_LIMIT)
        except OSError as e:
            return out + [f"model {name_shown}: {CONFIG} cannot be read: {e.strerror or e}"]
        found = config_name(raw.decode("utf-8", errors="replace"))
        if found is not None and found[0] != model:
            name, line, text = found
            out.append(f"model {name_shown}: {CONFIG} line {line} names it {shown(name)} ({cut(plain(text), 120)}), "
                       f"but its folder is {name_shown}: Triton loads a model only under its folder's name")
    return out


def root_problems(tree: Tree, models: list[str]) -> list[str]:
    """The refused links outside every model folder (the sync copies those files too)."""
    return [_link_words(link, link.path) for link in tree.refused if Path(link.path).parts[0] not in models] + [
        f"{plain(rel)} cannot be read: the sync would leave it out" for rel in tree.unreadable
        if Path(rel).parts[0] not in models]
