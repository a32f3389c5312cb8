"""The trees section of the host read: run in sh against real folders and manifests, and its parser."""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from migfleet.facts import trees
from migfleet.facts.trees import TreeNow


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# mawk or gawk as /usr/bin/awk, and busybox's awk where there is one (small hosts have only that)
AWKS = ["awk"] + (["busybox"] if shutil.which("busybox") else [])


def sh(command: str, awk: str, tmp_path: Path) -> str:
    bin_ = tmp_path / "awkbin"
    if not bin_.exists():
        bin_.mkdir()
        if awk == "busybox":
            (bin_ / "awk").symlink_to(shutil.which("busybox"))
    out = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=30,
                         env={"PATH": f"{bin_}:/usr/bin:/bin"})
    assert out.returncode == 0 and out.stderr == "", out.stderr
    return out.stdout


def read(tmp_path: Path, tree: Path, awk: str = "awk") -> TreeNow:
    return trees.parse(sh(trees.read_command([str(tree)], str(tmp_path / "manifests")), awk, tmp_path))[str(tree)]


def write_manifest(tmp_path: Path, tree: Path, want: dict[str, bytes], awk: str = "awk") -> Path:
    """What the tree operation does last: the want list uploaded, then the manifest written from it."""
    manifest = Path(trees.manifest_path(str(tree), str(tmp_path / "manifests")))
    manifest.parent.mkdir(exist_ok=True)
    Path(f"{manifest}.want").write_text("".join(f"{sha(d)} {p}\n" for p, d in sorted(want.items())))
    sh(trees.write_command(str(tree), f"{manifest}.want", str(manifest)), awk, tmp_path)
    assert not Path(f"{manifest}.want").exists()
    return manifest


@pytest.fixture
def tree(tmp_path) -> Path:
    root = tmp_path / "models"
    for rel, data in {"m/config.pbtxt": b"c", "m/1/model.py": b"py", "odd name's -x": b"q",
                      "m/1/__pycache__/model.cpython-311.pyc": b"bytecode"}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


@pytest.mark.parametrize("awk", AWKS)
def test_without_a_manifest_every_file_is_hashed_so_a_first_sync_can_adopt_it(tmp_path, tree, awk):
    now = read(tmp_path, tree, awk)
    assert now == TreeNow(manifest=False, foreign={"m/config.pbtxt": sha(b"c"), "m/1/model.py": sha(b"py"),
                                                   "odd name's -x": sha(b"q")})


@pytest.mark.parametrize("awk", AWKS)
def test_with_a_manifest_only_what_differs_is_hashed(tmp_path, tree, awk):
    manifest = write_manifest(tmp_path, tree, {"m/config.pbtxt": b"c", "m/1/model.py": b"py", "gone.txt": b"g"}, awk)
    lines = manifest.read_text().splitlines()
    assert lines[0].startswith("# migfleet manifest of ") and len(lines) == 3     # gone.txt was never there
    assert read(tmp_path, tree, awk) == TreeNow(
        manifest=True, written={"m/config.pbtxt": sha(b"c"), "m/1/model.py": sha(b"py")},
        foreign={"odd name's -x": None})                    # beside a manifest, never read
    # the digest comes from the manifest while size and mtime match: a lie there is believed
    manifest.write_text(manifest.read_text().replace(sha(b"c"), sha(b"not read")))
    assert read(tmp_path, tree, awk).written["m/config.pbtxt"] == sha(b"not read")
    (tree / "m" / "config.pbtxt").write_bytes(b"edited")                          # size changed
    st = os.stat(tree / "m" / "1" / "model.py")
    os.utime(tree / "m" / "1" / "model.py", ns=(st.st_atime_ns, st.st_mtime_ns + 1))  # mtime only
    (tree / "odd name's -x").unlink()
    now = read(tmp_path, tree, awk)
    assert now.changed == {"m/config.pbtxt": sha(b"edited"), "m/1/model.py": sha(b"py")}
    assert now.written == {} and now.foreign == {} and now.gone == frozenset()


def test_a_file_the_manifest_lists_that_is_gone_is_reported(tmp_path, tree):
    write_manifest(tmp_path, tree, {"m/config.pbtxt": b"c", "m/1/model.py": b"py"})
    (tree / "m" / "1" / "model.py").unlink()
    now = read(tmp_path, tree)
    assert now.gone == {"m/1/model.py"} and now.listed() == {"m/config.pbtxt", "m/1/model.py"}


def test_an_absent_tree_reads_empty_and_its_manifest_still_counts(tmp_path, tree):
    write_manifest(tmp_path, tree, {"m/config.pbtxt": b"c"})
    shutil.rmtree(tree)
    assert read(tmp_path, tree) == TreeNow(manifest=True, gone=frozenset({"m/config.pbtxt"}))
    assert read(tmp_path, tmp_path / "never") == TreeNow()


def test_an_unreadable_file_is_unknown_not_an_error(tmp_path, tree):
    if os.geteuid() == 0:
        pytest.skip("root reads every file")
    (tree / "m" / "config.pbtxt").chmod(0)
    assert read(tmp_path, tree).foreign["m/config.pbtxt"] is None


def test_manifests_are_named_from_the_tree_path_and_never_shared():
    assert trees.manifest_path("/opt/migfleet/models/") == trees.manifest_path("/opt/migfleet/models")
    assert trees.manifest_path("/opt/migfleet/models").startswith("/var/lib/migfleet/manifests/opt_migfleet_models-")
    assert trees.manifest_path("/a/b") != trees.manifest_path("/a_b")


def test_parser_reads_every_state():
    d = "a" * 64
    body = (f"== /t\nmanifest yes\n= 1 2.5 {d} same\n~ 1 3.0 {d} changed name\n~ 1 3.0 ? unreadable\n"
            f"+ 4 5.0 - theirs\n- 1 2.0 {d} gone\n== /u\nmanifest no\n+ 1 1.0 {d} x\n")
    assert trees.parse(body) == {
        "/t": TreeNow(True, {"same": d}, {"changed name": d, "unreadable": None}, {"theirs": None}, frozenset({"gone"})),
        "/u": TreeNow(False, foreign={"x": d})}


@pytest.mark.parametrize("line", ["find: './x': Permission denied", f"= 1 2.0 {'a' * 63} short", "= x 2.0 - p",
                                  "manifest maybe", "+ 1 2.0 -"])
def test_parser_quotes_what_it_did_not_expect(line):
    with pytest.raises(ValueError, match="unexpected") as err:
        trees.parse(f"== /t\nmanifest yes\n{line}\n")
    assert repr(line) in str(err.value)


def test_parser_refuses_a_file_line_before_any_tree():
    with pytest.raises(ValueError, match="before any tree"):
        trees.parse("manifest yes\n")
