"""The thin lab is named apart from the suite lab, so both can be up at once (names are chosen when
`lab` is imported: each flavour is looked at in its own interpreter)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROBE = """
import json, lab
from lab import host_fs, host_state
print(json.dumps({"name": lab.host_name(7), "address": lab.host_address(7), "netns": lab.host_netns(7),
                  "mac": lab.host_mac(7), "bridge": lab.BRIDGE, "bridge_ip": lab.BRIDGE_IP,
                  "state": str(lab.STATE_DIR), "lock": str(host_state.LOCK_FILE),
                  "number": [lab.host_number(lab.host_name(7)), lab.host_number(lab.host_address(7))],
                  "hidden": list(host_fs.HIDDEN_DIRS)}))
"""


def names(thin: bool) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("MIGFLEET_LAB_THIN", "MIGFLEET_LAB_DIR", "MIGFLEET_THIN_DIR")}
    if thin:
        env["MIGFLEET_LAB_THIN"] = "1"
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_thin_and_suite_labs_share_no_name_address_state_or_lock():
    suite, thin = names(False), names(True)
    assert suite["name"] == "lab-h7" and suite["address"] == "10.250.0.17" and suite["bridge"] == "mflab0"
    assert thin["name"] == "thin-h7" and thin["address"] == "10.251.0.17" and thin["bridge"] == "mfthin0"
    for key in ("name", "address", "netns", "mac", "bridge", "bridge_ip", "state", "lock"):
        assert suite[key] != thin[key], key
    # down sweeps by prefix and by state-dir path: neither lab's may match the other's
    assert not thin["netns"].startswith("mflab") and not suite["netns"].startswith("mfthin")
    assert not thin["state"].startswith(suite["state"]) and not suite["state"].startswith(thin["state"])
    assert suite["number"] == thin["number"] == [7, 7]
    # each lab's hosts see neither lab's state (keys, other hosts' disks)
    for flavour in (suite, thin):
        assert {"var/lib/migfleet-lab", "var/lib/migfleet-thin"} <= set(flavour["hidden"])
