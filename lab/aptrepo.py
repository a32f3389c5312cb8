"""The lab's signed flat apt repository (like NVIDIA's `deb [signed-by=...] URL /`).

Layout of the repo dir: the .deb files, Packages, Packages.gz, Release, Release.gpg, InRelease and
`gpgkey` (the ASCII-armored public key, as NVIDIA serves it). The signing key is generated once into
its own GnuPG home and kept.
"""
from __future__ import annotations

import gzip
import os
import shutil
import subprocess
from pathlib import Path

KEY_UID = "migfleet lab apt repository <lab@migfleet.invalid>"


def _gpg(home: Path, *args: str, stdin: bytes | None = None) -> bytes:
    cmd = ["gpg", "--homedir", str(home), "--batch", "--yes", "--no-tty", *args]
    done = subprocess.run(cmd, input=stdin, capture_output=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout


def stop_agent(home: Path) -> None:
    """gpg starts a gpg-agent per home on demand; do not leave it running."""
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], capture_output=True)


def ensure_key(home: Path) -> str:
    """Fingerprint of the repository signing key in home, generated on first use."""
    try:
        return _ensure_key(home)
    finally:
        stop_agent(home)


def _ensure_key(home: Path) -> str:
    home.mkdir(parents=True, exist_ok=True)
    os.chmod(home, 0o700)
    listing = _gpg(home, "--with-colons", "--list-secret-keys").decode()
    if "fpr:" not in listing:
        _gpg(home, "--passphrase", "", "--quick-gen-key", KEY_UID, "rsa3072", "sign", "never")
        listing = _gpg(home, "--with-colons", "--list-secret-keys").decode()
    for line in listing.splitlines():
        if line.startswith("fpr:"):
            return line.split(":")[9]
    raise RuntimeError(f"no key fingerprint in gpg listing of {home}: {listing!r}")


def build_repo(repo_dir: Path, debs: list[Path], gnupg_home: Path) -> str:
    """Write a fresh signed flat repository with exactly these packages; returns the key fingerprint."""
    try:
        return _build_repo(repo_dir, debs, gnupg_home)
    finally:
        stop_agent(gnupg_home)


def _build_repo(repo_dir: Path, debs: list[Path], gnupg_home: Path) -> str:
    fingerprint = _ensure_key(gnupg_home)
    tmp = repo_dir.with_name(repo_dir.name + ".new")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for deb in debs:
        shutil.copyfile(deb, tmp / deb.name)
    packages = subprocess.run(["dpkg-scanpackages", "--multiversion", ".", "/dev/null"], cwd=tmp,
                              check=True, capture_output=True).stdout
    (tmp / "Packages").write_bytes(packages)
    (tmp / "Packages.gz").write_bytes(gzip.compress(packages, mtime=0))
    release = subprocess.run(
        ["apt-ftparchive",
         "-o", "APT::FTPArchive::Release::Origin=migfleet-lab",
         "-o", "APT::FTPArchive::Release::Label=migfleet-lab nvidia-container-toolkit",
         "-o", "APT::FTPArchive::Release::Architectures=amd64 all",
         "release", "."], cwd=tmp, check=True, capture_output=True).stdout
    (tmp / "Release").write_bytes(release)
    signer = ["--local-user", fingerprint, "--digest-algo", "SHA512"]
    _gpg(gnupg_home, *signer, "--clearsign", "--output", str(tmp / "InRelease"), str(tmp / "Release"))
    _gpg(gnupg_home, *signer, "--armor", "--detach-sign", "--output", str(tmp / "Release.gpg"),
         str(tmp / "Release"))
    (tmp / "gpgkey").write_bytes(_gpg(gnupg_home, "--armor", "--export", fingerprint))
    old = repo_dir.with_name(repo_dir.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if repo_dir.exists():
        repo_dir.rename(old)
    tmp.rename(repo_dir)
    shutil.rmtree(old, ignore_errors=True)
    return fingerprint
