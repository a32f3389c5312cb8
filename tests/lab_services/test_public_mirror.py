"""The lab answers for the public names of migfleet's defaults (lab/public_mirror.py): from inside a lab
host, with nothing but the host's own resolver and trust store, the default toolkit repository and key
and the default Triton and Envoy images work. Needs a running lab (python -m lab up)."""
import json
import os
import shlex
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import free_port, needs
from lab import PUBLIC_NAMES, public_mirror
from lab.images.build import IMAGES, MANIFEST_TYPES
from lab.public_mirror import split_reference
from migfleet.operations.serving import toolkit_source_line
from migfleet.serving.settings import defaults

STATE_DIR = Path(os.environ.get("MIGFLEET_LAB_DIR", "/var/lib/migfleet-lab"))
HOST = "lab-h3"


@pytest.fixture(scope="module")
def lab():
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    try:
        return json.loads((STATE_DIR / "inventory.json").read_text())
    except FileNotFoundError:
        pytest.skip("no lab is up (python -m lab up)")


def ssh(lab, command: str, timeout: float = 120) -> str:
    proc = subprocess.run(["ssh", "-F", lab["ssh_config"], "-o", "BatchMode=yes", HOST, command],
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{HOST}: {command!r} failed (rc={proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.mark.lab
def test_host_resolves_public_names_to_the_lab(lab):
    for ip, names in PUBLIC_NAMES.items():
        for name in names:
            assert ssh(lab, f"getent ahostsv4 {name}").split()[0] == ip, name


@pytest.mark.lab
def test_default_key_url_over_https_with_the_hosts_trust_store(lab):
    key = ssh(lab, f"curl -fsS --max-time 20 {shlex.quote(defaults()['toolkit_key_url'])}")
    assert key == (STATE_DIR / "apt-repo" / "gpgkey").read_text()
    assert key.startswith("-----BEGIN PGP PUBLIC KEY BLOCK-----")


@pytest.mark.lab
def test_machine_itself_does_not_trust_the_lab_ca(lab):
    ip = next(iter(PUBLIC_NAMES))
    with pytest.raises(urllib.error.URLError) as err:
        urllib.request.urlopen(f"https://{ip}/", timeout=10, context=ssl.create_default_context())
    assert isinstance(err.value.reason, ssl.SSLCertVerificationError)


@pytest.mark.lab
def test_apt_update_with_the_default_source_line(lab):
    """The source line and keyring exactly as the toolkit deploy writes them from the defaults, in
    private apt directories (the host's own sources stay as they are)."""
    d = defaults()
    tmp = ssh(lab, "d=$(mktemp -d) && chmod 755 $d && mkdir -p $d/lists/partial && echo $d").strip()
    keyring = f"{tmp}/keyring.gpg"
    apt = (f"-o Dir::Etc::SourceList={tmp}/sources.list -o Dir::Etc::SourceParts=- "
           f"-o Dir::State::Lists={tmp}/lists")
    try:
        ssh(lab, f"curl -fsSL --max-time 20 {shlex.quote(d['toolkit_key_url'])} | "
                 f"gpg --batch --yes --dearmor -o {keyring} && chmod 644 {keyring} && "
                 f"printf %s {shlex.quote(toolkit_source_line(d['toolkit_repo_url'], keyring))} > {tmp}/sources.list")
        out = ssh(lab, f"timeout 120 apt-get update {apt} 2>&1")
        assert not [line for line in out.splitlines() if line.startswith(("W:", "E:", "Err:"))], out
        policy = ssh(lab, f"apt-cache {apt} policy {shlex.quote(d['toolkit_package'])}")
        assert "https://nvidia.github.io/libnvidia-container/stable/deb/amd64" in policy, policy
        assert "Candidate: (none)" not in policy, policy
    finally:
        ssh(lab, f"rm -rf {tmp}")


def lab_image_id(registry: str, key: str) -> str:
    """The config digest (Docker's image ID) of the lab's own image of that key."""
    image = next(i for i in IMAGES if i.key == key)
    req = urllib.request.Request(f"http://{registry}/v2/{image.repository}/manifests/{image.tag}",
                                 headers={"Accept": MANIFEST_TYPES})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.load(resp)["config"]["digest"]


@pytest.mark.lab
@pytest.mark.slow
@pytest.mark.parametrize("key", ["triton", "envoy"])
def test_docker_pull_of_the_default_image(lab, key):
    ref = defaults()[f"{key}_image"]
    assert split_reference(ref)[0] in ("nvcr.io", "docker.io")
    had = subprocess.run(["ssh", "-F", lab["ssh_config"], "-o", "BatchMode=yes", HOST,
                          f"docker image inspect {shlex.quote(ref)}"], capture_output=True, timeout=60).returncode == 0
    try:
        ssh(lab, f"timeout 300 docker pull -q {shlex.quote(ref)}", timeout=330)
        image_id = ssh(lab, f"docker image inspect -f '{{{{.Id}}}}' {shlex.quote(ref)}").strip()
        assert image_id == lab_image_id(lab["registry"], key)
    finally:
        if not had:     # leave the host's images as they were
            ssh(lab, f"docker image rm {shlex.quote(ref)} >/dev/null")


@pytest.mark.parametrize("ref, expected", [
    ("nvcr.io/nvidia/tritonserver:25.10-py3", ("nvcr.io", "nvidia/tritonserver", "25.10-py3")),
    ("envoyproxy/envoy:v1.40-latest", ("docker.io", "envoyproxy/envoy", "v1.40-latest")),
    ("ubuntu", ("docker.io", "library/ubuntu", "latest")),
    ("debian:12", ("docker.io", "library/debian", "12")),
    ("localhost:5000/a/b", ("localhost:5000", "a/b", "latest")),
    ("10.250.0.1:5000/migfleet-lab/envoy:lab", ("10.250.0.1:5000", "migfleet-lab/envoy", "lab")),
])
def test_split_reference_reads_references_as_docker_does(ref, expected):
    assert split_reference(ref) == expected


def test_server_certificate_serves_every_public_name_over_https(tmp_path):
    """The lab CA and server certificate, made in a fresh state dir, with lab/https_server.py: a client
    that trusts only the lab CA reaches a file under each public name."""
    needs("openssl")
    cert, key = public_mirror.ensure_server_cert(tmp_path)
    assert public_mirror.ensure_server_cert(tmp_path) == (cert, key)
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "gpgkey").write_text("key\n")
    port = free_port()
    server = subprocess.Popen([sys.executable, str(public_mirror.HTTPS_SERVER), str(tmp_path / "www"), "127.0.0.1",
                               str(port), str(cert), str(key)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        context = ssl.create_default_context(cafile=str(tmp_path / "public-mirror" / "ca.crt"))
        deadline = time.monotonic() + 10
        for names in PUBLIC_NAMES.values():
            for name in names:
                while True:
                    try:
                        with socket_to(port) as raw, context.wrap_socket(raw, server_hostname=name) as tls:
                            tls.sendall(f"GET /gpgkey HTTP/1.0\r\nHost: {name}\r\n\r\n".encode())
                            reply = b"".join(iter(lambda: tls.recv(4096), b""))
                        break
                    except ConnectionRefusedError:
                        assert time.monotonic() < deadline, "https_server.py did not listen"
                        time.sleep(0.1)
                assert reply.startswith(b"HTTP/1.0 200") and reply.endswith(b"\r\n\r\nkey\n"), (name, reply[:200])
        with socket_to(port) as raw, pytest.raises(ssl.SSLCertVerificationError):
            context.wrap_socket(raw, server_hostname="example.com")
    finally:
        server.terminate()
        server.wait(timeout=10)


def socket_to(port: int):
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def test_host_files_add_the_lab_ca_to_the_machines_bundle(tmp_path):
    needs("openssl")
    files = public_mirror.host_files(tmp_path)
    ca = (tmp_path / "public-mirror" / "ca.crt").read_bytes()
    bundle = files["etc/ssl/certs/ca-certificates.crt"]
    assert bundle.startswith(public_mirror.MACHINE_BUNDLE.read_bytes().rstrip(b"\n")) and bundle.endswith(ca)
    assert files["usr/local/share/ca-certificates/migfleet-lab-ca.crt"] == ca
    assert all(files[f"etc/docker/certs.d/{name}/ca.crt"] == ca for name in PUBLIC_NAMES[public_mirror.PUBLIC_REGISTRY_IP])
