"""A private dockerd (own socket, data-root and exec-root) that leaves the machine's networking alone."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from ..supervisor import alive


class DockerError(RuntimeError):
    pass


class PrivateDockerd:
    """Use as a context manager: started on enter, stopped (with its containerd) on exit."""

    def __init__(self, root: Path, insecure_registries: tuple[str, ...] = (), runtimes: dict | None = None,
                 path_prefix: tuple[str, ...] = ()):
        self.root = root.resolve()
        # unix socket paths are limited to 107 bytes; keep the exec-root short.
        tag = hashlib.sha256(str(self.root).encode()).hexdigest()[:10]
        self.exec_root = Path(f"/run/mflab-dockerd-{tag}")
        self.socket = self.exec_root / "docker.sock"
        self.config = {
            "data-root": str(self.root / "data"),
            "exec-root": str(self.exec_root),
            "pidfile": str(self.exec_root / "dockerd.pid"),
            "hosts": [f"unix://{self.socket}"],
            "storage-driver": "overlay2",
            "iptables": False,
            "ip-forward": False,
            "ip-masq": False,
            "bridge": "none",
            "insecure-registries": list(insecure_registries),
            "features": {"buildkit": False},
        }
        if runtimes:
            self.config["runtimes"] = runtimes
        self.path_prefix = path_prefix
        self.proc: subprocess.Popen | None = None

    def env(self) -> dict:
        env = dict(os.environ)
        env.update(DOCKER_HOST=f"unix://{self.socket}", DOCKER_BUILDKIT="0",
                   DOCKER_CONFIG=str(self.root / "client"), DOCKER_CLI_HINTS="false")
        return env

    def docker(self, *args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run(["docker", *args], env=self.env(), capture_output=True, text=True,
                              timeout=timeout)
        if check and done.returncode != 0:
            raise DockerError(f"docker {' '.join(args)} exited {done.returncode}: "
                              f"{(done.stderr or done.stdout).strip()}")
        return done

    def _kill_stale(self) -> None:
        pidfile = self.exec_root / "dockerd.pid"
        if not pidfile.exists():
            return
        try:
            pid = int(pidfile.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (ValueError, OSError):
            pidfile.unlink(missing_ok=True)
            return
        if b"dockerd" in cmdline and str(self.root).encode() in cmdline:
            self._terminate(pid)
        pidfile.unlink(missing_ok=True)

    @staticmethod
    def _terminate(pid: int, grace: float = 20) -> None:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and alive(pid):
            time.sleep(0.1)
        if alive(pid):
            os.kill(pid, signal.SIGKILL)

    def start(self, timeout: float = 60) -> "PrivateDockerd":
        self.root.mkdir(parents=True, exist_ok=True)
        self.exec_root.mkdir(parents=True, exist_ok=True)
        self._kill_stale()
        self._unmount_leftovers()
        cfg = self.root / "daemon.json"
        cfg.write_text(json.dumps(self.config, indent=2))
        env = dict(os.environ)
        if self.path_prefix:
            env["PATH"] = ":".join([*self.path_prefix, env.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")])
        log = open(self.root / "dockerd.log", "ab")
        self.proc = subprocess.Popen(["dockerd", "--config-file", str(cfg)], stdout=log, stderr=log,
                                     stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise DockerError(f"dockerd exited {self.proc.returncode}; see {self.root / 'dockerd.log'}: "
                                  + (self.root / "dockerd.log").read_text(errors="replace")[-2000:])
            if self.socket.exists() and self.docker("version", timeout=10, check=False).returncode == 0:
                return self
            time.sleep(0.2)
        self.stop()
        raise DockerError(f"dockerd did not answer on {self.socket} within {timeout:.0f} s")

    def stop(self, grace: float = 30) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
            self._unmount_leftovers()
            shutil.rmtree(self.exec_root, ignore_errors=True)

    def _unmount_leftovers(self) -> None:
        """A killed dockerd leaves exec-root/netns/default bind-mounted."""
        prefix = str(self.exec_root) + "/"
        mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
        for point in sorted((m for m in mounts if m.startswith(prefix)), reverse=True):
            subprocess.run(["umount", "-l", point], capture_output=True)

    def __enter__(self) -> "PrivateDockerd":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
