"""A tree sync carried out on a local folder: the host read's trees section and the tree operation's
commands, both run in sh, the uploads written as pyinfra would. Deletes only what it wrote."""
from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from pyinfra.api import FileUploadCommand

from migfleet.facts import trees
from migfleet.local_digests import LocalFile
from migfleet.operations import files
from tests.serving.conftest import on_host


def sh(command: str) -> str:
    out = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and out.stderr == "", (command, out.stderr)
    return out.stdout


def sync(tree: Path, content: dict, manifests: Path) -> tuple[list[str], list[str]]:
    """One run: read the tree, then run the operation's commands; (commands shown, no-op messages)."""
    now = trees.parse(sh(trees.read_command([str(tree)], str(manifests))))[str(tree)]
    with on_host({}) as fake:
        commands = list(files.tree._inner(remote_dir=str(tree), files=content, now=now, manifest_dir=str(manifests)))
    shown = []
    for c in commands:
        if isinstance(c, FileUploadCommand):
            Path(c.dest).write_bytes(Path(c.src).read_bytes() if isinstance(c.src, str) else c.src.getvalue())
            dest = Path(c.dest)
            shown.append(f"upload {dest.relative_to(tree)}" if dest.is_relative_to(tree) else "upload manifest list")
        else:
            sh(str(c))
            shown.append(str(c).split()[0])
    return shown, fake.noops


def listing(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_files_migfleet_did_not_write_survive_and_what_it_wrote_goes_when_the_content_drops_it(tmp_path):
    tree, manifests = tmp_path / "data" / "models", tmp_path / "manifests"
    (tree / "theirs" / "1").mkdir(parents=True)
    (tree / "theirs" / "1" / "model.plan").write_bytes(b"operator's model")
    (tree / "lab" / "1").mkdir(parents=True)
    (tree / "lab" / "1" / "notes.txt").write_bytes(b"operator's notes beside a synced model")
    weights = tmp_path / "local" / "weights.bin"
    weights.parent.mkdir()
    weights.write_bytes(b"w" * 1000)
    content = {"lab/config.pbtxt": b"config", "lab/1/model.py": b"model",
               "old/config.pbtxt": b"old", "old/1/model.py": b"old model",
               "lab/1/weights.bin": LocalFile(str(weights), hashlib.sha256(b"w" * 1000).hexdigest())}

    commands, _ = sync(tree, content, manifests)
    assert "upload lab/1/weights.bin" in commands and commands[-1] == "cd"       # the manifest, written last
    assert listing(tree)["lab/1/weights.bin"] == b"w" * 1000
    assert sync(tree, content, manifests) == ([], [
        f"{tree}: 5 file(s) up to date; 2 file(s) migfleet did not write, left alone: lab/1/notes.txt, "
        "theirs/1/model.plan"])

    del content["old/config.pbtxt"], content["old/1/model.py"], content["lab/1/model.py"]
    commands, _ = sync(tree, content, manifests)
    assert not any(c.startswith("upload lab") for c in commands)
    assert listing(tree) == {"lab/1/notes.txt": b"operator's notes beside a synced model",
                             "lab/1/weights.bin": b"w" * 1000, "lab/config.pbtxt": b"config",
                             "theirs/1/model.plan": b"operator's model"}
    assert not (tree / "old").exists() and (tree / "lab" / "1").is_dir()     # emptied folders go, others stay
    assert sync(tree, content, manifests)[0] == []


def test_a_file_edited_on_the_host_is_put_back_and_the_next_run_is_a_no_op(tmp_path):
    tree, manifests = tmp_path / "run", tmp_path / "manifests"
    content = {"a.json": b"{}\n"}
    sync(tree, content, manifests)
    (tree / "a.json").write_bytes(b"{\"edited\": 1}\n")
    assert sync(tree, content, manifests)[0][:2] == ["mkdir", "upload a.json"]
    assert listing(tree) == {"a.json": b"{}\n"}
    assert sync(tree, content, manifests) == ([], [f"{tree}: 1 file(s) up to date"])


def test_an_empty_content_removes_only_what_it_wrote(tmp_path):
    tree, manifests = tmp_path / "run", tmp_path / "manifests"
    sync(tree, {"triton-gpu0-s0.json": b"{}"}, manifests)
    (tree / "keep.json").write_bytes(b"theirs")
    sync(tree, {}, manifests)
    assert listing(tree) == {"keep.json": b"theirs"}
    assert sync(tree, {}, manifests)[0] == []
