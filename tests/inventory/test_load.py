"""Loading inventory code, as the pyinfra CLI does (on gevent): what stops it names the user's file and line."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from migfleet.inventory import load

REPO = Path(__file__).resolve().parents[2]


def validate(folder: Path, seconds: str = "1") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "migfleet", "validate", "inventory.py"], cwd=folder,
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
                          env={**os.environ, "PYTHONPATH": str(REPO), "MIGFLEET_LOAD_TIMEOUT": seconds})


def test_a_sleep_past_the_limit_is_named_without_gevents_print(tmp_path):
    (tmp_path / "inventory.py").write_text("import time\nhosts = ['gpu-01.invalid']\ntime.sleep(100)\n")
    done = validate(tmp_path)
    assert done.returncode == 1
    # gevent's hub prints what a callback raises (a traceback naming its own .pxd source): not here.
    assert done.stderr.splitlines() == [
        "inventory.py: 1 error(s)",
        "inventory.py:3: still running after 1 s: inventory and group data files must only define hosts and data "
        "(a loop that never ends? MIGFLEET_LOAD_TIMEOUT sets the limit)"]


def test_code_that_swallows_every_stop_ends_the_process_with_its_line(tmp_path):
    (tmp_path / "inventory.py").write_text("import time\nhosts = ['gpu-01.invalid']\nwhile True:\n    try:\n"
                                           "        time.sleep(100)\n    except BaseException:\n        pass\n")
    started = time.monotonic()
    done = validate(tmp_path, "0.5")
    took = time.monotonic() - started
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == ("inventory.py:5: still running after 0.5 s: inventory and group data files must only "
                           "define hosts and data (a loop that never ends? MIGFLEET_LOAD_TIMEOUT sets the limit); it "
                           "also caught every attempt to stop it (except BaseException?), so migfleet ends here\n")
    assert took < 30        # a bound for a hang: the limit, then 8 alarms a quarter second apart


def test_a_byte_order_mark_is_named():
    with pytest.raises(SyntaxError) as refused:
        compile("\ufeffhosts = []\n", "inventory.py", "exec")      # what pyinfra compiles of a file with a BOM
    assert load._describe(refused.value) == ("starts with a byte order mark, which pyinfra reads as code: save the "
                                             "file as UTF-8 without a BOM")


def test_frames_of_compiled_extensions_are_not_the_users():
    assert load._library("src/gevent/_gevent_c_greenlet_primitives.pxd")
    assert not load._library(str(REPO / "inventories" / "lab.py"))


def test_a_multi_line_exception_text_is_one_line():
    assert load._describe(ValueError("first\nsecond")) == "ValueError: first"


def test_each_host_has_its_groups_once_without_its_connector(tmp_path, monkeypatch):
    """The targets' `groups` label: pyinfra's groups as the CLI reads them, each once, no `@local`."""
    inv = tmp_path / "shard.py"
    inv.write_text('a100 = [("@local", {})]\nhosts = [("@local", {})]\n')
    monkeypatch.chdir(tmp_path)
    groups = load.load_inventory(str(inv)).groups
    assert groups == {"@local": ["a100", "hosts", "shard"]}
