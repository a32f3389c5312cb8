"""The lab's real services on the bridge address: image registry, signed apt repo, and images in it.

    ensure_up(bridge_ip, state_dir) -> {"registry", "apt_repo", "apt_key", "images": {"triton", "envoy"}, "prometheus"}
    down(state_dir)
    prepare_host(host_root, bridge_ip)

Processes are started and stopped by lab.supervisor (recorded in state_dir/run/<name>.json; only those
are ever stopped). Caches (rootfs tarball, wheels, registry storage, build dockerd data) stay in state_dir.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
from pathlib import Path

from . import aptrepo, prometheus, supervisor
from .atomic import write_atomic
from .images import build as images
from .toolkit import deb

REGISTRY_PORT = 5000
APT_PORT = 8081
PROMETHEUS_PORT = 9090
HTTP_PYTHON = "/usr/bin/python3"

REGISTRY_CONFIG = """version: 0.1
log:
  level: info
  formatter: text
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: {addr}
  headers:
    X-Content-Type-Options: [nosniff]
"""


def start_registry(bridge_ip: str, state_dir: Path, port: int = REGISTRY_PORT) -> str:
    addr = f"{bridge_ip}:{port}"
    storage = state_dir / "registry"
    storage.mkdir(parents=True, exist_ok=True)
    config = state_dir / "registry-config.yml"
    text = REGISTRY_CONFIG.format(root=storage.resolve(), addr=addr)
    if not config.exists() or config.read_text() != text:
        config.write_text(text)
    supervisor.start(state_dir, "registry", ["docker-registry", "serve", str(config)], (bridge_ip, port),
           f"http://{addr}/v2/")
    return addr


def ensure_apt_repo(state_dir: Path) -> Path:
    """Build (or keep) the signed repo with the toolkit packages; returns the repo dir."""
    repo = state_dir / "apt-repo"
    stamp = state_dir / "apt-repo.inputs"
    digest = deb.sources_digest()
    if repo.joinpath("InRelease").exists() and stamp.exists() and stamp.read_text() == digest:
        return repo
    debs = deb.build_debs(state_dir / "debs")
    aptrepo.build_repo(repo, debs, state_dir / "apt-gnupg")
    stamp.write_text(digest)
    return repo


def start_apt_server(bridge_ip: str, state_dir: Path, port: int = APT_PORT) -> str:
    repo = ensure_apt_repo(state_dir)
    command = [HTTP_PYTHON, "-m", "http.server", "--bind", bridge_ip, "--directory", str(repo.resolve()),
               str(port)]
    url = f"http://{bridge_ip}:{port}/"
    supervisor.start(state_dir, "apt-repo", command, (bridge_ip, port), url + "InRelease")
    return url


@contextlib.contextmanager
def state_lock(state_dir: Path, blocking: bool = True):
    """Serializes ensure_up/down on one state dir across processes (flock on state_dir/lock)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    with open(state_dir / "lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ensure_up(bridge_ip: str, state_dir: Path, registry_port: int = REGISTRY_PORT,
              apt_port: int = APT_PORT, log=print, prometheus_port: int | None = PROMETHEUS_PORT) -> dict:
    """Idempotent: builds what is missing, (re)starts what is not running on these addresses.
    prometheus_port None leaves Prometheus out."""

    state_dir = Path(state_dir).resolve()
    with state_lock(state_dir):
        registry = start_registry(bridge_ip, state_dir, registry_port)
        apt_url = start_apt_server(bridge_ip, state_dir, apt_port)
        prometheus_url = (prometheus.start(bridge_ip, state_dir, prometheus_port)
                          if prometheus_port is not None else None)
        refs = images.ensure_images(registry, state_dir, log=log)
    return {
        "registry": registry,
        "apt_repo": apt_url,
        "apt_key": str(state_dir / "apt-repo" / "gpgkey"),
        "images": refs,
        "prometheus": prometheus_url,
    }


def down(state_dir: Path) -> None:
    """Stop the registry, the apt server and Prometheus started by ensure_up; caches and data stay."""
    state_dir = Path(state_dir).resolve()
    with state_lock(state_dir):
        for name in ("prometheus", "apt-repo", "registry"):
            supervisor.stop(state_dir, name)


def daemon_settings(bridge_ip: str, registry_port: int = REGISTRY_PORT) -> dict:
    """dockerd settings for a lab host: overlay2 (on a tmpfs/ext4 /var/lib/docker, not the overlay
    root), the lab registry over plain HTTP, and no iptables/ip_forward changes inside the netns."""
    return {
        "storage-driver": "overlay2",
        "insecure-registries": [f"{bridge_ip}:{registry_port}"],
        "iptables": False,
        "ip-forward": False,
    }


def prepare_host(host_root: Path, bridge_ip: str, registry_port: int = REGISTRY_PORT) -> Path:
    """Write host_root/etc/docker/daemon.json with the lab settings; keys already there (runtimes added
    by nvidia-ctk, for one) are kept. Returns the file's path."""
    path = Path(host_root) / "etc" / "docker" / "daemon.json"
    current = {}
    if path.exists() and path.read_text().strip():
        current = json.loads(path.read_text())
        if not isinstance(current, dict):
            raise ValueError(f"{path} does not hold a JSON object: {path.read_text()[:200]!r}")
    current.update(daemon_settings(bridge_ip, registry_port))
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(current, indent=4, sort_keys=True) + "\n")
    return path
