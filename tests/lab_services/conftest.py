import fcntl
import os
import shutil
import socket
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

# Kept between runs so that only the first run pays for the rootfs and image builds.
STATE_DIR = Path(os.environ.get("MIGFLEET_LAB_SERVICES_STATE", "/var/tmp/migfleet-lab-services-test"))
REGISTRY_PORT = 15000
APT_PORT = 18081


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def needs(*tools: str):
    missing = [t for t in tools if shutil.which(t) is None]
    if os.geteuid() != 0:
        return pytest.skip("needs root")
    if missing:
        return pytest.skip(f"missing tools: {', '.join(missing)}")


@pytest.fixture(scope="session")
def services():
    """Registry + apt repo on 127.0.0.1 with both images built (cached in STATE_DIR); stopped at the end.

    One test run at a time owns STATE_DIR and the ports; a concurrent run skips these tests."""
    needs("docker", "dockerd", "docker-registry", "mmdebstrap", "gpg", "dpkg-deb", "apt-ftparchive")
    from lab import services as svc

    STATE_DIR.mkdir(parents=True, exist_ok=True)
    with open(STATE_DIR / "test-run.lock", "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pytest.skip(f"another test run is using {STATE_DIR}")
        info = svc.ensure_up("127.0.0.1", STATE_DIR, registry_port=REGISTRY_PORT, apt_port=APT_PORT,
                             log=lambda msg: print(msg, file=sys.stderr))
        try:
            yield info
        finally:
            svc.down(STATE_DIR)


@pytest.fixture(scope="module")
def pulled(services, tmp_path_factory):
    """A private dockerd (no iptables/bridge changes) with both lab images pulled from the registry."""
    from lab.images.dockerd import PrivateDockerd

    with PrivateDockerd(tmp_path_factory.mktemp("dockerd")) as dockerd:
        for ref in services["images"].values():
            dockerd.docker("pull", "-q", ref, timeout=300)
        yield dockerd, services["images"]
