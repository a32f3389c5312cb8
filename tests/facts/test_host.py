"""The one host read: its command runs in sh, every section is parsed, nothing else is read."""
from __future__ import annotations

import hashlib
import json
import subprocess

import pytest

from migfleet.facts.host import host_command, parse_host
from migfleet.mig import smi
from tests.mig import docsamples as doc

UNITS = ("migfleet-mig.service", "docker")


def fake_host(tmp_path, with_driver: bool = True):
    """A PATH with nvidia-smi (the MIG guide's two 3g.20gb), docker, systemctl and dpkg-query fakes."""
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    answers = {"--query-gpu": doc.QUERY_TWO_3G, "-L": doc.L_TWO_3G, "mig -lgi": doc.LGI_TWO_3G,
               "mig -lci": doc.LCI_TWO_3G, "-q -x": doc.XML_TWO_3G}
    if with_driver:
        cases = "".join(f"  *'{k}'*) cat <<'EOF_'\n{v.rstrip()}\nEOF_\n;;\n" for k, v in answers.items())
        (bin_ / "nvidia-smi").write_text(f"#!/bin/sh\ncase \"$*\" in\n{cases}esac\n")
    inspect = json.dumps([{"Name": "/triton-gpu0-s0", "Id": "c1", "Config": {"Image": "t", "Labels": {
        "migfleet.role": "triton"}, "Env": []}, "State": {"Status": "running", "Pid": 4242}}])
    (bin_ / "docker").write_text("#!/bin/sh\ncase \"$1 $2\" in\n"
                                 "  'ps -aq') echo c1;;\n"
                                 f"  'inspect c1') echo '{inspect}';;\n"
                                 "  'image inspect') echo 'sha256:aa [\"reg/t:1\"]';;\nesac\n")
    # is-enabled of an unknown unit prints nothing on stdout (and stops a multi-unit call)
    (bin_ / "systemctl").write_text("#!/bin/sh\ncase \"$1 $2\" in\n  'is-enabled migfleet-mig.service') echo enabled;;\n"
                                    "  'is-enabled docker') echo 'Failed to get unit file state' >&2; exit 1;;\n"
                                    "  is-active*) printf 'inactive\\nactive\\n'; exit 3;;\nesac\n")
    (bin_ / "dpkg-query").write_text("#!/bin/sh\necho 'python3 3.11.2-1 ii '\necho 'curl 7.88 un '\n")
    for f in bin_.iterdir():
        f.chmod(0o755)
    return bin_


def run(tmp_path, bin_, **args):
    out = subprocess.run(["sh", "-c", host_command(**args)], capture_output=True, text=True, timeout=30,
                         env={"PATH": f"{bin_}:/usr/bin:/bin"})
    return parse_host(out.stdout, args.get("units", ()))


def test_one_round_trip_reads_everything_the_operations_decide_from(tmp_path):
    managed = tmp_path / "etc" / "record.json"
    managed.parent.mkdir()
    managed.write_text("{}\n")
    (tmp_path / "tree" / "sub").mkdir(parents=True)
    (tmp_path / "tree" / "sub" / "a.py").write_text("a")
    view = run(tmp_path, fake_host(tmp_path), files=(str(managed), str(tmp_path / "absent")),
               trees=(str(tmp_path / "tree"), str(tmp_path / "none")), units=UNITS, packages=("python3", "curl"),
               images=("reg/t:1", "reg/e:2"), daemon_json=str(tmp_path / "daemon.json"))
    assert [g.name for g in view.gpus.values()] == ["A100-SXM4-40GB"] and view.driver_error is None
    assert len(next(iter(view.gpus.values())).gpu_instances) == 2
    assert view.files == {str(managed): hashlib.sha256(b"{}\n").hexdigest()}
    assert view.trees == {str(tmp_path / "tree"): {"sub/a.py": hashlib.sha256(b"a").hexdigest()},
                          str(tmp_path / "none"): {}}
    assert view.enabled == {"migfleet-mig.service": "enabled", "docker": "absent"}
    assert view.active == {"migfleet-mig.service": "inactive", "docker": "active"}
    assert view.packages == {"python3": "3.11.2-1"}             # curl is not installed ("un")
    assert view.images == {"reg/t:1": "sha256:aa"}
    assert [c.name for c in view.containers] == ["triton-gpu0-s0"] and view.own_pids == {4242}
    assert view.docker and view.daemon_json == ""


def test_a_host_without_the_driver_says_so(tmp_path):
    view = run(tmp_path, fake_host(tmp_path, with_driver=False), units=UNITS)
    assert view.gpus == {} and "nvidia-smi not found" in view.driver_error


def test_cut_output_is_an_error_not_a_smaller_host():
    text = doc.snapshot(doc.TWO_3G_SECTIONS)
    with pytest.raises(ValueError, match="cut short"):
        parse_host(text)
    assert smi.NAMES == tuple(doc.TWO_3G_SECTIONS)
