"""One deploy per host at a time, on one lab host: two deploys started together, one runs and the
other fails at once naming the lock's holder (the first deploy's sshd on the host), and the one that
ran removes its lock after its changes; the lock left by a deploy cut off in the middle of a change
is taken over by the next, which says so."""
from __future__ import annotations

import re
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from labtools import LAB_INVENTORY, REPO, deploy, pyinfra
from migfleet.facts import lock
from migfleet.facts.lock import LOCK_FILE
from migfleet.serving.containers import LABEL_ROLE

pytestmark = pytest.mark.lab

HOST = "lab-h5"
PYINFRA = str(Path(sys.executable).parent / "pyinfra")
HELD = re.compile(r"another migfleet deploy holds this host: PID (\d+) \((sshd\S*) for (\S+)\) since ([^;]+);")
TOOK_OVER = re.compile(r"took over a stale lock from PID (\d+) \((sshd\S*) for (\S+)\) \(started ([^)]+)\)")


def start_deploy() -> subprocess.Popen:
    return subprocess.Popen([PYINFRA, "-y", str(LAB_INVENTORY), "deploy.py", "--limit", HOST], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL)


def finish(procs: list[subprocess.Popen], started: float) -> list[tuple[int, str, float]]:
    """(exit code, output, seconds from `started` to its end) of each deploy."""
    outs = [[] for _ in procs]
    readers = [threading.Thread(target=lambda p=p, o=o: o.append(p.stdout.read()), daemon=True)
               for p, o in zip(procs, outs)]
    for r in readers:
        r.start()
    ended: dict[int, float] = {}
    deadline = started + 600
    while len(ended) < len(procs) and time.monotonic() < deadline:
        for i, p in enumerate(procs):
            if i not in ended and p.poll() is not None:
                ended[i] = time.monotonic() - started
        time.sleep(0.05)
    for r in readers:
        r.join(timeout=30)
    return [(p.wait(timeout=30), "".join(o), ended[i]) for i, (p, o) in enumerate(zip(procs, outs))]


def lock_line(lab) -> dict[str, str]:
    text = lab.ssh(HOST, f"cat {LOCK_FILE}").stdout.strip()
    return dict(re.findall(r"(\w+)=(\S+)", text))


def test_two_deploys_started_together_one_runs_the_other_fails_naming_the_lock(deployed):
    lab = deployed
    # Tritons stopped by hand: the deploy that runs starts them again and waits until Envoy's health
    # checks pass, so it holds the host for several seconds
    names = lab.ssh(HOST, f"docker ps -aq --filter label={LABEL_ROLE}=triton").stdout.split()
    assert names
    lab.ssh(HOST, "docker stop " + " ".join(names), timeout=120)
    started = time.monotonic()
    first, second = start_deploy(), start_deploy()
    results = finish([first, second], started)
    ran = [r for r in results if r[0] == 0]
    refused = [r for r in results if r[0] != 0]
    assert len(ran) == 1 and len(refused) == 1, "\n\n".join(r[1][-3000:] for r in results)
    rc, out, took = refused[0]
    held = set(HELD.findall(out))     # said where the host failed, and again in the run's last word
    assert len(held) == 1, out[-3000:]
    pid, name, controller, since = held.pop()
    print(f"refused deploy ended after {took:.2f} s, the deploy that ran after {ran[0][2]:.2f} s; "
          f"holder PID {pid} ({name} for {controller}) since {since}")
    assert "Tritons started" not in out                 # nothing planned for it, let alone run
    for _ in range(50):                                 # the holder named ends with its connection
        if lab.ssh(HOST, f"test -d /proc/{pid}", check=False).returncode != 0:
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"{HOST}: PID {pid} still runs after its deploy ended")
    # the deploy that ran changed the host (started the Tritons), then removed its lock
    assert lab.ssh(HOST, f"test -e {LOCK_FILE}", check=False).returncode != 0


def test_a_deploy_cut_off_mid_change_leaves_a_stale_lock_the_next_takes_over_and_names(deployed, tmp_path):
    lab = deployed
    # a connection that takes the lock as a deploy's read does, marks it as changing the host, and
    # ends without removing it: what a deploy killed in the middle of a change leaves
    script = tmp_path / "cut.sh"
    script.write_text(f"( {lock.command('tester@cut', take=True)}\n) > /tmp/lock.out\n"
                      "pid=$(sed -n 's/^holder \\([0-9]*\\) .*/\\1/p' /tmp/lock.out)\n"
                      f"{lock.mark_command(0).replace('pid=0 ', 'pid=$pid ')}\n")
    lab.ssh(HOST, f"sh -c {shlex.quote(script.read_text())}")
    cut = lock_line(lab)
    assert cut["controller"] == "tester@cut" and cut["changing"] == "1", cut
    [(rc, out, took)] = finish([start_deploy()], time.monotonic())
    assert rc == 0, out[-4000:]
    (over,) = TOOK_OVER.findall(out)
    assert over[:3] == (cut["pid"], "sshd", "tester@cut") and "ended in the middle of a change" in out
    print(f"took over the stale lock of PID {over[0]} (started {over[3]}); deploy ended after {took:.2f} s")
    # a run that changed nothing is taken over without a word
    [(rc, out, _)] = finish([start_deploy()], time.monotonic())
    assert rc == 0 and "took over" not in out, out[-4000:]


def test_dry_takes_no_lock_and_warns_of_a_deploy_holding_the_host(deployed, tmp_path):
    lab = deployed
    # a connection that takes the lock, as a deploy's read does, and stays open
    script = tmp_path / "hold.sh"
    script.write_text(f"( {lock.command('tester@holder', take=True)}\n)\nsleep 60\n")   # a section, as in the read
    holder = subprocess.Popen(["ssh", "-F", lab.inventory["ssh_config"], "-o", "BatchMode=yes", HOST,
                               f"sh -c {shlex.quote(script.read_text())}"], stdout=subprocess.PIPE, text=True)
    try:
        said = [holder.stdout.readline() for _ in range(3)]
        assert any(line.startswith(("state taken", "state took-over")) for line in said), said
        held = lock_line(lab)
        assert held["controller"] == "tester@holder" and held["name"] == "sshd"
        dry = pyinfra("--dry", str(LAB_INVENTORY), "deploy.py", "--limit", HOST)
        out = dry.stdout + dry.stderr
        assert dry.returncode == 0, out[-4000:]
        assert (f"another migfleet deploy holds this host: PID {held['pid']} (sshd for tester@holder) since"
                in out and "(--dry takes no lock)" in out), out[-4000:]
        assert lock_line(lab) == held
        refused = pyinfra("-y", str(LAB_INVENTORY), "deploy.py", "--limit", HOST)
        assert refused.returncode != 0 and f"PID {held['pid']} (sshd for tester@holder)" in refused.stdout + refused.stderr
    finally:
        holder.terminate()
        holder.wait(timeout=30)
    deploy("--limit", HOST)             # takes the lock over, and leaves the host converged
