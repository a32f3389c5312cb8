"""Files migfleet did not write survive in the model directory; files it wrote go when the local
repository drops them (the tree's manifest says which are its own)."""
from __future__ import annotations

import shlex
import shutil

import pytest

from labtools import LAB_INVENTORY, REPO, deploy, pyinfra
from migfleet.facts import trees
from migfleet.serving.settings import defaults

pytestmark = pytest.mark.lab
HOST = "lab-h6"         # NVIDIA H100 80GB HBM3, 2 x 3g.40gb: two Tritons to replace when the models change
MODEL_DIR = defaults()["triton_model_dir"]
# Beside the models (Triton reads only model folders there) and inside a model's version folder
# (the python backend reads only model.py there).
FOREIGN = {"operator-notes.txt": "kept by the operator", "lab_classifier/1/operator-cache.bin": "cache"}
DROPPED = "lab_classifier/1/retired.txt"        # written by migfleet from a repository revision that had it


def cat(lab, rel: str) -> str | None:
    proc = lab.ssh(HOST, f"cat {MODEL_DIR}/{rel}", check=False)
    return proc.stdout if proc.returncode == 0 else None


def test_a_foreign_file_survives_two_deploys_and_a_dropped_file_is_removed(lab, tmp_path):
    repo = tmp_path / "models"
    shutil.copytree(REPO / "files" / "models", repo)
    (repo / DROPPED).write_text("from an older revision\n")
    with_dropped = tmp_path / "lab_retired.py"
    with_dropped.write_text("import runpy\n"
                            f"_hosts, _data = runpy.run_path({str(LAB_INVENTORY)!r})['lab']\n"
                            f"lab = ([(n, {{**d, 'triton_model_repository': {str(repo)!r}}}) if n == {HOST!r} "
                            "else (n, d) for n, d in _hosts], _data)\n")
    deploy("--limit", HOST)
    try:
        for rel, text in FOREIGN.items():
            lab.ssh(HOST, f"printf '%s\\n' {shlex.quote(text)} > {MODEL_DIR}/{rel}")

        first = deploy("--limit", HOST, inventory=with_dropped)      # the revision with the extra file
        assert cat(lab, DROPPED) == "from an older revision\n"
        assert "2 file(s) migfleet did not write, left alone" in first.stdout + first.stderr
        manifest = lab.ssh(HOST, f"cat {trees.manifest_path(MODEL_DIR)}").stdout
        assert DROPPED in manifest and not any(rel in manifest for rel in FOREIGN)

        second = deploy("--limit", HOST)                            # back to the lab's repository
        assert cat(lab, DROPPED) is None
        assert {rel: cat(lab, rel) for rel in FOREIGN} == {rel: f"{text}\n" for rel, text in FOREIGN.items()}
        assert "2 file(s) migfleet did not write, left alone" in second.stdout + second.stderr

        dry = pyinfra("--dry", "-v", str(LAB_INVENTORY), "deploy.py", "--limit", HOST)
        assert dry.returncode == 0, dry.stdout[-3000:]
        assert ("file(s) up to date; 2 file(s) migfleet did not write, left alone: "
                "lab_classifier/1/operator-cache.bin, operator-notes.txt") in dry.stdout + dry.stderr
    finally:
        lab.ssh(HOST, "rm -f " + " ".join(f"{MODEL_DIR}/{rel}" for rel in FOREIGN), check=False)
        deploy("--limit", HOST)
