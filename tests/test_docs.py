"""The guide cannot drift from the code.

Every `migfleet/...` path and `migfleet.module.name` the docs name exists; every subpackage of
`migfleet/` is named in docs/ARCHITECTURE.md; every `migfleet COMMAND --flag` in a fenced `sh`
block is a command of `migfleet --help` and a flag of its own `--help`.
"""
from __future__ import annotations

import contextlib
import importlib
import io
import re
from pathlib import Path

import pytest

from migfleet import cli

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted([*ROOT.glob("docs/*.md"), ROOT / "README.md", *ROOT.glob("bench/**/README.md")])

# A repository path (not a host path such as /etc/migfleet/..., ~/.cache/migfleet/...).
PATH_RE = re.compile(r"(?<![\w/.~-])migfleet/[\w./-]*[\w/]")
DOTTED_RE = re.compile(r"(?<![\w/.-])migfleet(?:\.[A-Za-z_]\w*)+")
FENCE_RE = re.compile(r"^```sh\n(.*?)^```", re.S | re.M)
COMMAND_RE = re.compile(r"(?:^|\s)(?:\S*/)?(?:migfleet|python3? -m migfleet)\s+([a-z][\w-]*)((?:\s+[^#\n]*)?)")
# Paths in ARCHITECTURE.md's tables are relative to the package.
MODULE_CELL_RE = re.compile(r"`((?:[a-z_]+/)+(?:[a-z_]+\.(?:py|json|lua))?)`")


def _doc_id(path: Path) -> str:
    return str(path.relative_to(ROOT))


def named_paths(text: str) -> set[str]:
    return {m.group(0).rstrip("/.") for m in PATH_RE.finditer(text)}


def named_objects(text: str) -> set[str]:
    return {m.group(0) for m in DOTTED_RE.finditer(text)}


def resolves(dotted: str) -> bool:
    """`migfleet.a.b.c`: the longest importable module prefix, then attributes for the rest."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


def sh_commands(text: str) -> list[tuple[str, list[str]]]:
    """(subcommand, flags) for each `migfleet SUB ...` line of the fenced sh blocks."""
    out = []
    for block in FENCE_RE.findall(text):
        for line in block.splitlines():
            line = line.split("  #", 1)[0]
            for m in COMMAND_RE.finditer(line):
                sub, rest = m.group(1), m.group(2)
                if rest and " -- " in f" {rest} ":
                    rest = rest.split(" -- ", 1)[0]   # what follows `--` is pyinfra's or pytest's
                flags = re.findall(r"(?<!\S)(--[a-z][\w-]*)", rest or "")
                out.append((sub, flags))
    return out


def help_text(sub: str) -> str:
    module = importlib.import_module(cli.COMMANDS[sub][0])
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
        with contextlib.suppress(SystemExit):
            module.main(["--help"])
    return buf.getvalue()


@pytest.mark.parametrize("doc", DOCS, ids=_doc_id)
def test_every_named_path_exists(doc):
    missing = sorted(p for p in named_paths(doc.read_text()) if not (ROOT / p).exists())
    assert not missing, f"{_doc_id(doc)} names paths that are not in the tree: {missing}"


@pytest.mark.parametrize("doc", DOCS, ids=_doc_id)
def test_every_named_module_and_function_exists(doc):
    missing = sorted(d for d in named_objects(doc.read_text()) if not resolves(d))
    assert not missing, f"{_doc_id(doc)} names modules or functions that do not exist: {missing}"


def test_architecture_module_paths_exist():
    text = (ROOT / "docs/ARCHITECTURE.md").read_text()
    missing = sorted(p for p in MODULE_CELL_RE.findall(text)
                     if not (ROOT / "migfleet" / p).exists() and not (ROOT / p).exists())
    assert not missing, f"docs/ARCHITECTURE.md names modules that are not in the tree: {missing}"


def test_architecture_names_every_subpackage():
    text = (ROOT / "docs/ARCHITECTURE.md").read_text()
    packages = sorted(p.parent.relative_to(ROOT / "migfleet").as_posix()
                      for p in (ROOT / "migfleet").rglob("__init__.py") if p.parent != ROOT / "migfleet")
    unnamed = [p for p in packages if f"{p}/" not in text and f"migfleet/{p}" not in text]
    assert not unnamed, f"docs/ARCHITECTURE.md does not name these subpackages: {unnamed}"


@pytest.mark.parametrize("doc", DOCS, ids=_doc_id)
def test_every_documented_command_and_flag_exists(doc):
    wrong = []
    for sub, flags in sh_commands(doc.read_text()):
        if sub not in cli.COMMANDS:
            wrong.append(f"migfleet {sub}: no such command")
            continue
        usage = help_text(sub)
        wrong += [f"migfleet {sub} {f}: no such flag" for f in flags if not re.search(rf"{re.escape(f)}\b", usage)]
    assert not wrong, f"{_doc_id(doc)}: " + "; ".join(wrong)


def test_the_checks_see_a_removed_path(tmp_path):
    """The checks fail when a doc names what is not there (a path, a function, a command, a flag)."""
    text = ("`migfleet/mig/no_such_module.py` and `migfleet.mig.plan.no_such_function`\n"
            "```sh\nmigfleet no-such-command x\nmigfleet validate inv.py --no-such-flag\n```\n")
    assert [p for p in named_paths(text) if not (ROOT / p).exists()] == ["migfleet/mig/no_such_module.py"]
    assert not resolves("migfleet.mig.plan.no_such_function") and resolves("migfleet.mig.plan.plan_gpu")
    commands = sh_commands(text)
    assert ("no-such-command", []) in commands
    assert ("validate", ["--no-such-flag"]) in commands
    assert "--no-such-flag" not in help_text("validate") and "--live" in help_text("validate")


def test_mig_parted_guide_lists_every_catalog_pci_id():
    from migfleet.mig import catalog
    text = (ROOT / "docs/MIG-PARTED.md").read_text()
    listed = {m.lower() for m in re.findall(r"`(0x[0-9A-Fa-f]{4})`", text)}
    known = {catalog.model_data(m)["pci_device_id"].lower() for m in catalog.all_models()}
    assert known <= listed, f"docs/MIG-PARTED.md leaves out {sorted(known - listed)}"
