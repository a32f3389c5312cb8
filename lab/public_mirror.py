"""The lab answers for the public names in migfleet's defaults, as a site's transparent mirror would, so
an inventory that leaves toolkit_repo_url, toolkit_key_url, triton_image and envoy_image out converges
a lab host (which has no internet):

- nvidia.github.io (PUBLIC_APT_IP, https :443): the lab's flat apt repository at
  /libnvidia-container/stable/deb/amd64/ (`$(ARCH)`, expanded by apt) and its armored key at
  /libnvidia-container/gpgkey;
- nvcr.io and Docker Hub (PUBLIC_REGISTRY_IP, https :443): a second docker-registry on the storage of
  the lab registry, where the lab's Triton and Envoy images are also tagged under the names of the
  schema defaults (read from migfleet.serving.settings, so they stay in step).

TLS uses the lab's own CA, made once in STATE_DIR/public-mirror (kept by `down`, like the other
caches). Only lab hosts trust it and resolve the names (`host_files`); the machine itself does not.

    ensure_up(state_dir, registry, images) -> {"names", "ca", "images"}
    down(state_dir)
    host_files(state_dir) -> {path in a host: bytes}
"""
from __future__ import annotations

import hashlib
import json
import ssl
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from . import BRIDGE, PUBLIC_APT_IP, PUBLIC_NAMES, PUBLIC_REGISTRY_IP
from .host_run import quiet, run
from .services import state_lock
from .supervisor import start, stop

HTTPS_PORT = 443
APT_PATH = "libnvidia-container/stable/deb/amd64"   # the default toolkit_repo_url with $(ARCH) = amd64
KEY_PATH = "libnvidia-container/gpgkey"
CA_NAME = "migfleet-lab-ca"
MACHINE_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
MANIFEST_TYPES = ("application/vnd.docker.distribution.manifest.v2+json, "
                  "application/vnd.oci.image.manifest.v1+json")
HTTPS_SERVER = Path(__file__).resolve().parent / "https_server.py"
PROCESSES = ("public-apt", "public-registry")

REGISTRY_CONFIG = """version: 0.1
log:
  level: info
  formatter: text
storage:
  filesystem:
    rootdirectory: {root}
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: {addr}
  tls:
    certificate: {cert}
    key: {key}
"""


def _dir(state_dir: Path) -> Path:
    return Path(state_dir) / "public-mirror"


def _openssl(*args: str) -> None:
    run(["openssl", *args])


def ensure_ca(state_dir: Path) -> Path:
    """The lab CA certificate, made on first use; returns its path."""
    d = _dir(state_dir)
    crt, key = d / "ca.crt", d / "ca.key"
    if crt.exists() and key.exists():
        return crt
    d.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", str(key), "-out", str(d / "ca.crt.new"), "-days", "3650",
             "-subj", "/O=migfleet lab/CN=migfleet lab CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    key.chmod(0o600)
    (d / "ca.crt.new").rename(crt)
    return crt


def _sans() -> str:
    names = [name for names in PUBLIC_NAMES.values() for name in names]
    return ",".join([f"DNS:{n}" for n in names] + [f"IP:{ip}" for ip in PUBLIC_NAMES])


def ensure_server_cert(state_dir: Path) -> tuple[Path, Path]:
    """One server certificate for every public name (and the mirror addresses), signed by the lab CA;
    made again when the names or the CA change."""
    d = _dir(state_dir)
    ca = ensure_ca(state_dir)
    crt, key, stamp = d / "server.crt", d / "server.key", d / "server.inputs"
    extensions = (f"subjectAltName={_sans()}\nbasicConstraints=critical,CA:FALSE\n"
                  "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n")
    inputs = hashlib.sha256(extensions.encode() + ca.read_bytes()).hexdigest()
    if crt.exists() and key.exists() and stamp.exists() and stamp.read_text() == inputs:
        return crt, key
    ext = d / "server.ext"
    ext.write_text(extensions)
    _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", str(key), "-out", str(d / "server.csr"), "-subj", "/O=migfleet lab/CN=nvidia.github.io")
    key.chmod(0o600)
    _openssl("x509", "-req", "-in", str(d / "server.csr"), "-CA", str(ca), "-CAkey", str(d / "ca.key"),
             "-set_serial", str(int.from_bytes(hashlib.sha256(inputs.encode()).digest()[:8], "big")),
             "-days", "825", "-sha256", "-extfile", str(ext), "-out", str(crt))
    stamp.write_text(inputs)
    return crt, key


def _context(state_dir: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ensure_ca(state_dir)))


def host_files(state_dir: Path) -> dict[str, bytes]:
    """Files a lab host needs to trust the lab CA (paths without the leading /): the CA where
    update-ca-certificates finds local CAs (so a regenerated bundle keeps it), the bundle OpenSSL,
    GnuTLS (apt) and Go (dockerd) read, with the CA added to the machine's, and Docker's per-registry
    CA (read at every pull from nvcr.io; Docker Hub pulls use the bundle)."""
    ca = ensure_ca(state_dir).read_bytes()
    bundle = MACHINE_BUNDLE.read_bytes().rstrip(b"\n") + b"\n" + ca
    files = {f"usr/local/share/ca-certificates/{CA_NAME}.crt": ca, "etc/ssl/certs/ca-certificates.crt": bundle}
    for name in PUBLIC_NAMES[PUBLIC_REGISTRY_IP]:
        files[f"etc/docker/certs.d/{name}/ca.crt"] = ca
    return files


# ---------------------------------------------------------------- images under their public names

def split_reference(ref: str) -> tuple[str, str, str]:
    """(registry host, repository, tag) as Docker reads a reference: a first part without '.' or ':'
    (and not localhost) is a Docker Hub repository, official images live under library/."""
    first, sep, rest = ref.partition("/")
    if not sep or not ("." in first or ":" in first or first == "localhost"):
        first, rest = "docker.io", ref if sep else f"library/{ref}"
    repo, _, tag = rest.rpartition(":") if ":" in rest else (rest, "", "latest")
    return first, repo, tag


def public_images() -> dict[str, str]:
    """{lab image key: public reference}: migfleet's schema defaults for the Triton and Envoy images."""
    from migfleet.serving.settings import defaults   # the one home of the defaults

    d = defaults()
    return {"triton": d["triton_image"], "envoy": d["envoy_image"]}


def _answered(registry_host: str) -> bool:
    host = "registry-1.docker.io" if registry_host == "docker.io" else registry_host
    return host in PUBLIC_NAMES[PUBLIC_REGISTRY_IP]


def _request(url: str, method: str = "GET", headers: dict | None = None, data: bytes | None = None):
    req = urllib.request.Request(url, method=method, headers=headers or {}, data=data)
    return urllib.request.urlopen(req, timeout=30)


def copy_tag(registry: str, src: str, dst: str) -> bool:
    """Tag the manifest of repository:tag `src` as `dst` in the same (plain HTTP) registry: blobs by
    cross-repository mount, then the manifest's own bytes, so the image ID stays the same.
    Returns False when dst already names that manifest."""
    (src_repo, src_tag), (dst_repo, dst_tag) = src.rsplit(":", 1), dst.rsplit(":", 1)
    base = f"http://{registry}/v2"
    with _request(f"{base}/{src_repo}/manifests/{src_tag}", headers={"Accept": MANIFEST_TYPES}) as resp:
        body, media_type = resp.read(), resp.headers["Content-Type"]
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    try:
        with _request(f"{base}/{dst_repo}/manifests/{dst_tag}", "HEAD", {"Accept": MANIFEST_TYPES}) as resp:
            if resp.headers.get("Docker-Content-Digest") == digest:
                return False
    except urllib.error.HTTPError as err:
        if err.code != 404:
            raise
    manifest = json.loads(body)
    for blob in [manifest["config"], *manifest["layers"]]:
        query = urllib.parse.urlencode({"mount": blob["digest"], "from": src_repo})
        with _request(f"{base}/{dst_repo}/blobs/uploads/?{query}", "POST", data=b"") as resp:
            if resp.status != 201:
                raise RuntimeError(f"registry {registry} did not mount {blob['digest']} from {src_repo} "
                                   f"into {dst_repo} (HTTP {resp.status})")
    with _request(f"{base}/{dst_repo}/manifests/{dst_tag}", "PUT", {"Content-Type": media_type}, body):
        pass
    return True


def publish_images(registry: str, lab_images: dict[str, str]) -> dict[str, str]:
    """Tag each lab image (key -> reference in `registry`) under its public name; returns key -> public
    reference."""
    published = {}
    for key, public in public_images().items():
        host, repo, tag = split_reference(public)
        if not _answered(host):
            raise RuntimeError(f"the default {key} image {public!r} is on {host}, which the lab does not "
                               f"answer for (it answers {', '.join(PUBLIC_NAMES[PUBLIC_REGISTRY_IP])})")
        src = lab_images[key].split("/", 1)[1]      # drop the lab registry's address
        copy_tag(registry, src, f"{repo}:{tag}")
        published[key] = public
    return published


# ---------------------------------------------------------------- servers

def _address(ip: str) -> None:
    if f" {ip}/" not in run(["ip", "-o", "-4", "addr", "show", "dev", BRIDGE]).stdout:
        run(["ip", "addr", "add", f"{ip}/32", "dev", BRIDGE])


def _web_root(state_dir: Path) -> Path:
    """nvidia.github.io's paths, as links into the lab's apt repository (rebuilt in place by lab.services)."""
    root = _dir(state_dir) / "www"
    repo = (Path(state_dir) / "apt-repo").resolve()
    links = {APT_PATH: repo, KEY_PATH: repo / "gpgkey"}
    for rel, target in links.items():
        link = root / rel
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.is_symlink() or Path(link.readlink()) != target:
            link.unlink(missing_ok=True)
            link.symlink_to(target)
    return root


def ensure_up(state_dir: Path, registry: str, lab_images: dict[str, str]) -> dict:
    """Idempotent: CA and certificate, bridge addresses, the https apt server, the TLS registry, and
    the lab images tagged under their public names in `registry` (the lab's plain one, same storage)."""
    state_dir = Path(state_dir).resolve()
    with state_lock(state_dir):
        cert, key = ensure_server_cert(state_dir)
        context = _context(state_dir)
        for ip in PUBLIC_NAMES:
            _address(ip)
        start(state_dir, "public-apt",
               ["/usr/bin/python3", str(HTTPS_SERVER), str(_web_root(state_dir)), PUBLIC_APT_IP,
                str(HTTPS_PORT), str(cert), str(key)],
               (PUBLIC_APT_IP, HTTPS_PORT), f"https://{PUBLIC_APT_IP}/{KEY_PATH}", context)
        config = state_dir / "public-registry-config.yml"
        text = REGISTRY_CONFIG.format(root=(state_dir / "registry").resolve(),
                                      addr=f"{PUBLIC_REGISTRY_IP}:{HTTPS_PORT}", cert=cert, key=key)
        if not config.exists() or config.read_text() != text:
            config.write_text(text)
        start(state_dir, "public-registry", ["docker-registry", "serve", str(config)],
               (PUBLIC_REGISTRY_IP, HTTPS_PORT), f"https://{PUBLIC_REGISTRY_IP}/v2/", context)
        images = publish_images(registry, lab_images)
    return {"names": {ip: list(names) for ip, names in PUBLIC_NAMES.items()},
            "ca": str(_dir(state_dir) / "ca.crt"), "images": images}


def down(state_dir: Path) -> None:
    """Stop both servers and take the mirror addresses off the bridge; the CA, certificate and the
    registry's storage stay."""
    state_dir = Path(state_dir).resolve()
    with state_lock(state_dir):
        for name in PROCESSES:
            stop(state_dir, name)
    for ip in PUBLIC_NAMES:
        quiet(["ip", "addr", "del", f"{ip}/32", "dev", BRIDGE])
