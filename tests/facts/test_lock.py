"""The host lock's section, run by the real sh against this machine's /proc: who holds it, taking
it, refusing a second holder, taking over a stale lock, and --dry only looking."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest

from migfleet.facts import lock

CHILD = textwrap.dedent("""
    import os, subprocess, sys, time
    section, go, out, done = sys.argv[1:]
    while not os.path.exists(go):           # every child starts its read at the same moment
        time.sleep(0.001)
    text = subprocess.run(["sh", "-c", section], capture_output=True, text=True).stdout
    with open(out + ".tmp", "w") as f:
        f.write(text)
    os.rename(out + ".tmp", out)
    while not os.path.exists(done):         # a holder lives on, as a deploy's connection does
        time.sleep(0.01)
""")


def section(directory, take=True, controller="ops@ctl") -> str:
    return lock.command(controller, take, str(directory))


def read(directory, take=True) -> lock.LockState:
    """The section run by this process's own shell: this process is the holder, as pyinfra is for @local."""
    done = subprocess.run(["sh", "-c", section(directory, take)], capture_output=True, text=True, check=True)
    return lock.parse(done.stdout)


def children(directory, n: int, tmp_path, env=None) -> list[lock.LockState]:
    """n other processes, each the holder of its own read, started together; they exit once all
    have read."""
    run = tmp_path / f"run-{time.monotonic_ns()}"
    run.mkdir()
    outs = [run / f"out-{i}" for i in range(n)]
    procs = [subprocess.Popen([sys.executable, "-c", CHILD, section(directory), str(run / "go"), str(out),
                               str(run / "done")], env=env) for out in outs]
    try:
        time.sleep(0.3)
        (run / "go").touch()
        deadline = time.monotonic() + 30
        while not all(o.exists() for o in outs) and time.monotonic() < deadline:
            time.sleep(0.01)
        return [lock.parse(o.read_text()) for o in outs]
    finally:
        (run / "done").touch()
        for p in procs:
            p.wait(timeout=30)


def test_a_free_host_is_taken_by_the_process_that_lives_as_long_as_the_connection(tmp_path):
    state = read(tmp_path)
    assert state.state == "taken" and state.found is None and not state.refuses
    assert state.me.pid == os.getpid()                  # the shell's first ancestor that is not a shell
    start = int(open(f"/proc/{os.getpid()}/stat").read().rsplit(")", 1)[1].split()[19])
    assert state.me.start == start and abs(state.me.since - time.time()) < 7 * 24 * 3600
    line = (tmp_path / "deploy.lock").read_text()
    assert line == f"pid={os.getpid()} start={start} since={state.me.since} controller=ops@ctl name={state.me.name}\n"
    again = read(tmp_path)                              # a second read of the same run
    assert again.state == "ours" and again.message() is None and not again.refuses


def test_the_connections_sshd_holds_it_over_ssh(tmp_path):
    """Over SSH the read's shell runs under the per-connection sshd (sshd-session from OpenSSH 9.8)."""
    sshd = tmp_path / "sshd-session"
    # sshd runs the user's shell, which runs pyinfra's `sh -c`
    sshd.write_text('#!/bin/sh\necho "$$" > "$2"\nsh -c \'sh -c "$0"\' "$1"\n')
    sshd.chmod(0o755)
    done = subprocess.run([str(sshd), section(tmp_path / "d"), str(tmp_path / "pid")], capture_output=True,
                          text=True, check=True)
    state = lock.parse(done.stdout)
    assert state.state == "taken" and state.me.name == "sshd-session"
    assert state.me.pid == int((tmp_path / "pid").read_text())


def test_a_live_holder_refuses_another_deploy_naming_it(tmp_path):
    mine = read(tmp_path)
    (other,) = children(tmp_path, 1, tmp_path)
    assert other.state == "locked" and other.refuses and other.me.pid != os.getpid()
    assert (other.found.pid, other.found.start, other.found.controller) == (os.getpid(), mine.me.start, "ops@ctl")
    message = other.message()
    assert message.startswith(f"another migfleet deploy holds this host: PID {os.getpid()} "
                              f"({mine.me.name} for ops@ctl) since {mine.me.since_text}; wait for it")
    assert f"kill {os.getpid()}" in message and "\n" not in message
    assert (tmp_path / "deploy.lock").read_text().startswith(f"pid={os.getpid()} ")    # untouched


def test_a_lock_whose_holder_is_gone_is_taken_over_and_said_when_it_was_changing(tmp_path):
    lock_file = str(tmp_path / "deploy.lock")
    (gone,) = children(tmp_path, 1, tmp_path)          # its holder, the child, has exited since
    assert gone.state == "taken"
    quiet = read(tmp_path)                              # a run that changed nothing: taken over silently
    assert quiet.state == "took-over" and quiet.found.pid == gone.me.pid and not quiet.refuses
    assert quiet.message() is None
    subprocess.run(["sh", "-c", lock.release_command(quiet.me.pid, lock_file)], check=True)
    (cut_off,) = children(tmp_path, 1, tmp_path)        # another run, which marks its lock and then ends
    subprocess.run(["sh", "-c", lock.mark_command(os.getpid(), lock_file)], check=True)   # not our lock: no mark
    assert "changing=1" not in (tmp_path / "deploy.lock").read_text()
    subprocess.run(["sh", "-c", lock.mark_command(cut_off.me.pid, lock_file)], check=True)
    state = read(tmp_path)
    assert state.state == "took-over" and state.found.changing
    assert state.message() == (f"took over a stale lock from PID {cut_off.me.pid} ({cut_off.me.name} for ops@ctl) "
                               f"(started {cut_off.me.since_text}): that deploy ended in the middle of a change; "
                               "this run converges what it left")
    assert (tmp_path / "deploy.lock").read_text().startswith(f"pid={os.getpid()} ")


def test_a_run_removes_only_its_own_lock(tmp_path):
    lock_file = str(tmp_path / "deploy.lock")
    mine = read(tmp_path)
    subprocess.run(["sh", "-c", lock.release_command(mine.me.pid + 1, lock_file)], check=True)
    assert (tmp_path / "deploy.lock").exists()
    subprocess.run(["sh", "-c", lock.release_command(mine.me.pid, lock_file)], check=True)
    assert not (tmp_path / "deploy.lock").exists()
    assert read(tmp_path).state == "taken"


def test_a_reused_pid_is_not_the_holder(tmp_path):
    (tmp_path / "deploy.lock").write_text(f"pid={os.getpid()} start=1 since=0 controller=ops@old name=sshd\n")
    state = read(tmp_path)
    assert state.state == "took-over" and (state.found.pid, state.found.start) == (os.getpid(), 1)


def path_without_flock(tmp_path) -> dict:
    """This environment with a PATH holding the section's tools but not flock(1)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("sh", "cat", "head", "mkdir", "mv", "getconf", "sleep"):
        path = next(f"{d}/{tool}" for d in ("/usr/bin", "/bin") if os.access(f"{d}/{tool}", os.X_OK))
        os.symlink(path, bindir / tool)
    return dict(os.environ, PATH=str(bindir))


@pytest.mark.parametrize("guard", ["flock", "noclobber"])
def test_of_deploys_started_together_exactly_one_takes_the_lock(tmp_path, guard):
    env = path_without_flock(tmp_path) if guard == "noclobber" else None
    for n in range(4):
        states = children(tmp_path / f"r{n}", 3, tmp_path, env)
        assert sorted(s.state for s in states) == ["locked", "locked", "taken"], states
        taken = next(s for s in states if s.state == "taken")
        assert all(s.found.pid == taken.me.pid for s in states if s.state == "locked")


def test_dry_only_looks(tmp_path):
    assert read(tmp_path / "run", take=False).state == "free" and not (tmp_path / "run").exists()  # writes nothing
    (gone,) = children(tmp_path, 1, tmp_path)
    assert read(tmp_path, take=False).state == "stale"
    assert (tmp_path / "deploy.lock").read_text().startswith(f"pid={gone.me.pid} ")
    read(tmp_path)
    (other,) = [lock.parse(subprocess.run([sys.executable, "-c", "import subprocess, sys; print(subprocess.run("
                                           "['sh', '-c', sys.argv[1]], capture_output=True, text=True).stdout)",
                                           section(tmp_path, take=False)], capture_output=True, text=True).stdout)]
    assert other.state == "active" and not other.refuses
    assert other.message().endswith("(--dry takes no lock)") and f"PID {os.getpid()}" in other.message()


def test_a_lock_that_cannot_be_written_refuses_the_deploy(tmp_path):
    (tmp_path / "file").write_text("")
    state = read(tmp_path / "file" / "run")
    assert state.state == "error" and state.refuses
    assert state.message() == f"host lock: cannot create {tmp_path}/file/run (run the deploy as root, or with _sudo)"


def test_parse_quotes_what_it_does_not_know():
    assert lock.parse("") is None                       # the read did not look at the lock
    with pytest.raises(ValueError, match="unexpected line in the lock section 'bogus'"):
        lock.parse("holder 1 2 3 sshd\nbogus\nstate taken\n")
    with pytest.raises(ValueError, match="unexpected lock file line 'pid=x start=2'"):
        lock.parse("holder 1 2 3 sshd\nlock pid=x start=2\nstate locked\n")
    with pytest.raises(ValueError, match="ended without a state"):
        lock.parse("holder 1 2 3 sshd\n")
    state = lock.parse("state unsupported no holder process found under /proc\n")
    assert not state.refuses and state.message() == ("host lock: no holder process found under /proc; "
                                                      "deploying without the lock")


def test_times_are_utc():
    assert lock.Holder(1, 1, 1796400000, "sshd").since_text == "2026-12-04 16:00:00 UTC"


def test_controller_name_needs_no_quoting():
    assert lock.controller_name("ops", "ctl-1.example.net") == "ops@ctl-1.example.net"
    assert lock.controller_name("o p;s", "c$(x)") == "o_p_s@c__x_"
