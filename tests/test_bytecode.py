"""One rule for Python's byte code caches: find's form (FIND_NOT_CACHE, in facts.trees' host read)
lists exactly the files `is_cache` keeps, the model repository walk uploads them, and copy_ignore
copies them, on one tree holding every kind of cache and every near miss."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from migfleet import bytecode
from migfleet.facts import trees
from migfleet.inventory import model_files

FILES = ["m/config.pbtxt", "m/1/model.py", "m/1/model.pyc", "m/1/__pycache__/model.cpython-311.pyc",
         "m/1/__pycache__/notes.txt", "__pycache__/x.py", "m/1/deep/__pycache__/a/b.txt",
         "m/1/__pycache__x/kept.py", "m/1/x__pycache__/kept.py", "m/1/x.pyc/kept.txt", "m/1/pyc",
         "m/1/model.pyc.txt", "m/1/model.pycx", "m/2/__pycache__"]
KEPT = {"m/config.pbtxt", "m/1/model.py", "m/1/__pycache__x/kept.py", "m/1/x__pycache__/kept.py",
        "m/1/x.pyc/kept.txt", "m/1/pyc", "m/1/model.pyc.txt", "m/1/model.pycx"}


def _tree(root: Path) -> Path:
    for rel in FILES:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(rel)
    return root


def _find(root: Path, command: str) -> set[str]:
    out = subprocess.run(["sh", "-c", command], cwd=root, capture_output=True, text=True, check=True).stdout
    return set(out.splitlines())


def test_python_rule_keeps_exactly_the_non_caches():
    assert {f for f in FILES if not bytecode.is_cache(f)} == KEPT


def test_find_form_lists_what_the_python_rule_keeps(tmp_path):
    root = _tree(tmp_path / "tree")
    assert _find(root, f"find . -type f {bytecode.FIND_NOT_CACHE} -printf '%P\\n'") == KEPT
    listed = {line.split(" ", 2)[2] for line in _find(root, trees.FIND_FILES)}     # the host read's own find
    assert listed == KEPT


def test_model_walk_and_copy_follow_the_rule(tmp_path):
    root = _tree(tmp_path / "tree")
    assert {p.relative_to(root).as_posix() for p in model_files.walk(root).files} == KEPT
    shutil.copytree(root, tmp_path / "copy", ignore=bytecode.copy_ignore("*.txt"))
    copied = {p.relative_to(tmp_path / "copy").as_posix() for p in (tmp_path / "copy").rglob("*") if p.is_file()}
    assert copied == {f for f in KEPT if not f.endswith(".txt")}
