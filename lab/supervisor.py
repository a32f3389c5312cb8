"""The lab's one process supervisor: a service started here is recorded in state_dir/run/<name>.json
(pid, command), and only a process so recorded is ever stopped. Used by the lab's services,
Prometheus and the public-name mirrors alike."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path


def alive(pid: int) -> bool:
    """Running and not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _record(state_dir: Path, name: str) -> Path:
    return state_dir / "run" / f"{name}.json"


def running(state_dir: Path, name: str) -> dict | None:
    """The record of a live process started by us under this name, else None."""
    path = _record(state_dir, name)
    try:
        rec = json.loads(path.read_text())
        cmdline = Path(f"/proc/{rec['pid']}/cmdline").read_bytes().split(b"\0")[:-1]
    except (OSError, ValueError, KeyError):
        return None
    if alive(rec["pid"]) and [c.decode() for c in cmdline] == rec["command"]:
        return rec
    return None


def stop(state_dir: Path, name: str, grace: float = 10) -> bool:
    """Stop our process of that name; True when one was running."""
    rec = running(state_dir, name)
    if rec is not None:
        pid = rec["pid"]
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and alive(pid):
            time.sleep(0.05)
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
        try:  # reap it when this process started it
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
    _record(state_dir, name).unlink(missing_ok=True)
    return rec is not None


def wait_http(url: str, timeout: float, proc_pid: int, context=None) -> None:
    """context: an ssl.SSLContext for https (the lab CA, which the machine itself does not trust)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if not alive(proc_pid):
            raise RuntimeError(f"process {proc_pid} serving {url} exited")
        try:
            with urllib.request.urlopen(url, timeout=2, context=context) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError) as err:
            last = err
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer 200 within {timeout:.0f} s: {last}")


def check_free(address: tuple[str, int], name: str, wait: float) -> None:
    """Fail clearly when another process listens there (a just-stopped one gets a few seconds)."""
    deadline = time.monotonic() + wait
    while True:
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(address)
                return
            except OSError as err:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name}: cannot listen on {address[0]}:{address[1]}: {err} "
                                       "(held by a process this state dir did not start)") from None
        time.sleep(0.1)


def start(state_dir: Path, name: str, command: list[str], address: tuple[str, int], ready_url: str,
          context=None) -> None:
    """Start command unless the same command already runs from our record; wait for ready_url."""
    rec = running(state_dir, name)
    if rec is not None and rec["command"] == command:
        wait_http(ready_url, 10, rec["pid"], context)
        return
    stopped = stop(state_dir, name)
    check_free(address, name, wait=5 if stopped else 0)
    (state_dir / "run").mkdir(parents=True, exist_ok=True)
    (state_dir / "logs").mkdir(parents=True, exist_ok=True)
    with open(state_dir / "logs" / f"{name}.log", "ab") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    _record(state_dir, name).write_text(json.dumps({"pid": proc.pid, "command": command}))
    try:
        wait_http(ready_url, 30, proc.pid, context)
    except RuntimeError as err:
        stop(state_dir, name)
        tail = (state_dir / "logs" / f"{name}.log").read_text(errors="replace")[-1500:]
        raise RuntimeError(f"{name}: {err}; log tail:\n{tail}") from None
