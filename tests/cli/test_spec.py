"""`migfleet spec INVENTORY [PYTEST ARGS]`: the packaged spec suite, with the same selection and output
as the checkout's `pytest migfleet/spec --inventory INVENTORY`. Offline: collection only (the suite
parametrizes by the inventory's hosts without contacting them)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from migfleet.cli import spec

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def run(argv: list[str], cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL, env=ENV)


def comparable(text: str) -> list[str]:
    # The run's seconds, and the config file line (the checkout's pytest.ini; none for the package).
    return [re.sub(r" in [0-9.]+s", " in Ns", ln) for ln in text.splitlines() if not ln.startswith("configfile:")]


def test_collects_what_the_checkout_collects_with_the_same_output():
    # the example fleet: it loads with no lab up (collection contacts no host)
    selection = ["--collect-only", "-k", "mig_layout or envoy",
                 "--hosts-limit", "gpu-a40-01.example.com,gpu-a80-01.example.com"]
    packaged = run([sys.executable, "-m", "migfleet", "spec", "inventories/production.py", *selection])
    checkout = run([sys.executable, "-m", "pytest", "migfleet/spec", "--inventory", "inventories/production.py",
                    *selection])
    assert (packaged.returncode, checkout.returncode) == (0, 0), packaged.stdout + packaged.stderr
    assert comparable(packaged.stdout) == comparable(checkout.stdout)
    assert "<Function test_mig_layout[gpu-a40-01.example.com]>" in packaged.stdout
    assert "gpu-a40-02.example.com" not in packaged.stdout


def test_runs_from_any_folder_with_the_same_node_ids(tmp_path):
    inventory = tmp_path / "inventory.py"
    inventory.write_text("hosts = [('gpu-01.invalid', {'gpu_models': ['NVIDIA H100 80GB HBM3']})]\n")
    done = run([sys.executable, "-m", "migfleet", "spec", "inventory.py", "--collect-only", "-q"], cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "migfleet/spec/test_mig.py::test_mig_layout[gpu-01.invalid]" in done.stdout.splitlines()
    assert not list(tmp_path.glob(".pytest_cache")) and sorted(p.name for p in tmp_path.iterdir()) == ["inventory.py"]


def test_a_broken_inventory_is_said_in_one_line_without_pytest(tmp_path):
    (tmp_path / "inventory.py").write_text("hosts = ['gpu-01.invalid']\n1 / 0\n")
    done = run([sys.executable, "-m", "migfleet", "spec", "inventory.py"], cwd=tmp_path)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.splitlines() == ["migfleet spec: cannot load inventory.py:",
                                        "inventory.py:2: ZeroDivisionError: division by zero"]


def test_pytest_arguments_pass_through_and_at_local_stays_one_argument():
    argv = spec.pytest_argv("@local", ["-x", "--junitxml", "r.xml"])
    assert argv[:5] == [sys.executable, "-m", "pytest", str(REPO / "migfleet" / "spec"), "--inventory=@local"]
    assert argv[-3:] == ["-x", "--junitxml", "r.xml"] and "-ra" in argv
    assert f"--rootdir={REPO}" in argv and "no:cacheprovider" in argv


def test_listed_in_the_usage():
    done = run([sys.executable, "-m", "migfleet", "--help"])
    assert re.search(r"^  spec +run the spec suite", done.stdout, re.M), done.stdout
    helped = run([sys.executable, "-m", "migfleet", "spec", "--help"])
    assert helped.returncode == 0 and "Arguments after the inventory go to pytest" in helped.stdout
