"""The one host read: its command runs in sh, every section is parsed, nothing else is read."""
from __future__ import annotations

import hashlib
import json
import subprocess

import pytest

from migfleet.facts.host import SYSTEMD_RUNTIME, TOOLKIT_MODULES, host_command, parse_host
from migfleet.facts.trees import TreeNow
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


def run(tmp_path, bin_, booted: bool = True, path: str | None = None, **args):
    """The host command in sh with the fakes first on PATH; `booted`: systemd's runtime directory
    (SYSTEMD_RUNTIME, moved under tmp_path) exists, as on a host whose PID 1 is systemd."""
    runtime = tmp_path / "run-systemd-system"
    if booted:
        runtime.mkdir(exist_ok=True)
    command = host_command(**args).replace(SYSTEMD_RUNTIME, str(runtime))
    out = subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True, timeout=30,
                         env={"PATH": path or f"{bin_}:/usr/bin:/bin"})
    return parse_host(out.stdout, args.get("units", ()), args.get("services", ()))


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
    # (no manifest of these trees yet: every file read; tests/facts/test_trees.py has the manifest cases)
    assert view.trees == {str(tmp_path / "tree"): TreeNow(foreign={"sub/a.py": hashlib.sha256(b"a").hexdigest()}),
                          str(tmp_path / "none"): TreeNow()}
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


def bare_path(tmp_path):
    """A PATH holding only what a minimal host has besides sh: no systemctl, docker, dpkg-query,
    apt-get, lsmod, modinfo or nvidia-smi."""
    import shutil
    bin_ = tmp_path / "bare-bin"
    bin_.mkdir()
    for tool in ("cat", "uname", "sha256sum", "find", "sort", "xargs", "awk"):
        (bin_ / tool).symlink_to(shutil.which(tool))
    return str(bin_)


def test_a_host_without_systemd_docker_dpkg_or_lsmod_reads_as_such(tmp_path):
    units = ("migfleet-mig.service", "docker.service")
    view = run(tmp_path, None, booted=False, path=bare_path(tmp_path), units=units,
               services=("nvidia-persistenced.service",), packages=("python3", "docker.io"), images=("reg/t:1",))
    assert view.systemd is False and view.tools == frozenset() and view.pid1
    assert view.enabled == dict.fromkeys(units, "absent")
    assert view.active == dict.fromkeys((*units, "nvidia-persistenced.service"), "unknown")
    assert view.docker is None and view.docker_error is None and view.containers == () and view.images == {}
    assert view.packages == {} and not view.modules_listed and view.modules == frozenset()
    assert view.gpus == {} and "nvidia-smi not found" in view.driver_error
    assert view.kernel          # uname -r


def test_systemctl_present_while_pid1_is_not_systemd_reads_unknown(tmp_path):
    # systemctl answers "System has not been booted with systemd..." there: not read at all
    view = run(tmp_path, fake_host(tmp_path), booted=False, units=UNITS)
    assert view.systemd is False and "systemctl" in view.tools
    assert view.active == dict.fromkeys(UNITS, "unknown")


def test_a_booted_host_reads_its_tools(tmp_path):
    view = run(tmp_path, fake_host(tmp_path), units=UNITS)
    assert view.systemd is True and {"systemctl", "dpkg-query"} <= view.tools


def test_a_docker_that_does_not_answer_is_quoted_not_parsed(tmp_path):
    bin_ = fake_host(tmp_path)
    (bin_ / "docker").write_text("#!/bin/sh\necho 'Cannot connect to the Docker daemon at "
                                 "unix:///var/run/docker.sock. Is the docker daemon running?' >&2; exit 1\n")
    view = run(tmp_path, bin_, units=UNITS, images=("reg/t:1",))
    assert view.docker and view.containers == () and view.images == {}
    assert view.docker_error.startswith("Cannot connect to the Docker daemon")


def test_lsmod_that_fails_leaves_the_modules_unknown(tmp_path):
    bin_ = fake_host(tmp_path)
    (bin_ / "lsmod").write_text("#!/bin/sh\necho 'lsmod: ERROR: could not open /proc/modules' >&2; exit 1\n")
    (bin_ / "lsmod").chmod(0o755)
    view = run(tmp_path, bin_, units=UNITS)
    assert not view.modules_listed and view.modules == frozenset()
    (bin_ / "lsmod").write_text("#!/bin/sh\nprintf 'Module  Size  Used by\\nnvidia_uvm 1 0\\nnvidia 2 1 nvidia_uvm\\n'\n")
    view = run(tmp_path, bin_, units=UNITS)
    assert view.modules_listed and view.modules == {"nvidia", "nvidia_uvm"}


def test_toolkit_modules_loaded_or_installed_for_the_running_kernel(tmp_path):
    bin_ = fake_host(tmp_path)
    # modinfo finds nvidia for the running kernel only; nvidia_uvm is nowhere
    (bin_ / "modinfo").write_text("#!/bin/sh\n[ \"$2\" = \"$(uname -r)\" ] && [ \"$4\" = nvidia ] && "
                                  "echo \"/lib/modules/$2/updates/dkms/nvidia.ko\" && exit 0\n"
                                  "echo \"modinfo: ERROR: Module $4 not found.\" >&2; exit 1\n")
    (bin_ / "modinfo").chmod(0o755)
    sysfs = tmp_path / "sys-module"
    (sysfs / "nvidia_uvm").mkdir(parents=True)
    command = host_command(units=UNITS).replace(SYSTEMD_RUNTIME, str(tmp_path / "none"))
    command = command.replace('"/sys/module/$m"', f'"{sysfs}/$m"')
    out = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=30,
                         env={"PATH": f"{bin_}:/usr/bin:/bin"})
    view = parse_host(out.stdout, UNITS)
    assert set(TOOLKIT_MODULES) == {"nvidia", "nvidia_uvm"}
    assert view.module_files == {"nvidia": f"/lib/modules/{view.kernel}/updates/dkms/nvidia.ko",
                                 "nvidia_uvm": "loaded"}
    (sysfs / "nvidia_uvm").rmdir()
    out = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=30,
                         env={"PATH": f"{bin_}:/usr/bin:/bin"})
    assert "nvidia_uvm" not in parse_host(out.stdout, UNITS).module_files


def _framed(tmp_path, bin_, **args) -> str:
    command = host_command(**args).replace(SYSTEMD_RUNTIME, str(tmp_path))
    return subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=30,
                          env={"PATH": f"{bin_}:/usr/bin:/bin"}).stdout


def test_malformed_output_of_a_present_tool_is_still_an_error_quoting_it(tmp_path):
    bin_ = fake_host(tmp_path)
    text = _framed(tmp_path, bin_, units=UNITS)
    # systemctl is there and PID 1 is systemd, yet it answers fewer lines than units
    with pytest.raises(ValueError, match="systemctl answered 2 line"):
        parse_host(text, (*UNITS, "third.service"))
    with pytest.raises(ValueError, match="'bogus line'"):
        parse_host(text.replace("@@migfleet prereq\n", "@@migfleet prereq\nbogus line\n"), UNITS)
    with pytest.raises(ValueError, match="docker image inspect line 'sha256:aa \\[not json'"):
        parse_host(_framed(tmp_path, bin_, units=UNITS, images=("reg/t:1",)).replace('sha256:aa ["reg/t:1"]',
                                                                               "sha256:aa [not json"), UNITS)
