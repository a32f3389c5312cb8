"""Host daemon.json, mirror parsing, and the apt server's process handling (fast, loopback only)."""
import json
import socket
import urllib.request

import pytest

from conftest import free_port, needs
from lab import services
from lab.images import rootfs


def test_prepare_host_writes_lab_settings_and_keeps_other_keys(tmp_path):
    daemon = tmp_path / "etc/docker/daemon.json"
    path = services.prepare_host(tmp_path, "10.250.0.1")
    assert path == daemon
    first = json.loads(daemon.read_text())
    assert first == {"storage-driver": "overlay2", "insecure-registries": ["10.250.0.1:5000"],
                     "iptables": False, "ip-forward": False}
    runtimes = {"nvidia": {"args": [], "path": "nvidia-container-runtime"}}
    daemon.write_text(json.dumps({**first, "runtimes": runtimes, "insecure-registries": ["old:5000"]}))
    services.prepare_host(tmp_path, "10.250.0.1")
    again = json.loads(daemon.read_text())
    assert again["runtimes"] == runtimes and again["insecure-registries"] == ["10.250.0.1:5000"]
    text = daemon.read_text()
    services.prepare_host(tmp_path, "10.250.0.1")
    assert daemon.read_text() == text


def test_prepare_host_refuses_non_object(tmp_path):
    daemon = tmp_path / "etc/docker/daemon.json"
    daemon.parent.mkdir(parents=True)
    daemon.write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"\[1, 2\]"):
        services.prepare_host(tmp_path, "10.250.0.1")


def test_debian_mirror_from_deb822(tmp_path):
    sources = tmp_path / "debian.sources"
    sources.write_text("Types: deb\nURIs: http://security.example/debian-security\nSuites: bookworm-security\n"
                       "Components: main\n\nTypes: deb\n# comment: x\nURIs: http://mirror.example/debian\n"
                       "Suites: bookworm bookworm-updates\nComponents: main\n")
    assert rootfs.debian_mirror(sources) == "http://mirror.example/debian"
    assert rootfs.debian_mirror(tmp_path / "missing") == rootfs.DEFAULT_MIRROR


@pytest.fixture
def state(tmp_path):
    needs("gpg", "dpkg-scanpackages", "apt-ftparchive")
    yield tmp_path
    services.down(tmp_path)


def test_apt_server_is_idempotent_and_stopped_by_down(state):
    port = free_port()
    url = services.start_apt_server("127.0.0.1", state, port)
    pid = json.loads((state / "run/apt-repo.json").read_text())["pid"]
    assert services.start_apt_server("127.0.0.1", state, port) == url
    assert json.loads((state / "run/apt-repo.json").read_text())["pid"] == pid
    key = urllib.request.urlopen(url + "gpgkey", timeout=5).read()
    assert key.startswith(b"-----BEGIN PGP PUBLIC KEY BLOCK-----")
    services.down(state)
    assert not (state / "run/apt-repo.json").exists()
    with pytest.raises(OSError):
        urllib.request.urlopen(url + "gpgkey", timeout=2)


def test_port_held_by_someone_else_is_reported(state):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(RuntimeError, match=f"cannot listen on 127.0.0.1:{port}"):
            services.start_apt_server("127.0.0.1", state, port)
