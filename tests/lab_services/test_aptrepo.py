"""The signed flat repo, served over HTTP on loopback, as apt sees it (apt-get with private Dir:: paths)."""
import subprocess
import sys
import time
import urllib.request

import pytest

from conftest import free_port, needs
from lab import aptrepo
from lab.toolkit import deb


@pytest.fixture(scope="module")
def served_repo(tmp_path_factory):
    needs("gpg", "dpkg-scanpackages", "apt-ftparchive", "apt-get")
    tmp = tmp_path_factory.mktemp("apt")
    debs = deb.build_debs(tmp / "debs")
    fingerprint = aptrepo.build_repo(tmp / "repo", debs, tmp / "gnupg")
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "--directory",
                               str(tmp / "repo"), str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 10
    while True:
        try:
            urllib.request.urlopen(url + "InRelease", timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                server.kill()
                raise
            time.sleep(0.05)
    yield url, fingerprint, tmp
    server.kill()
    server.wait()


def apt(tmp, url, keyring, *args):
    """apt-get confined to tmp: its own sources list, state, cache and an empty dpkg status."""
    root = tmp / "aptroot"
    for d in ("state/lists/partial", "cache/archives/partial", "etc/preferences.d", "etc/apt.conf.d"):
        (root / d).mkdir(parents=True, exist_ok=True)
    (root / "status").touch()
    (root / "sources.list").write_text(f"deb [signed-by={keyring}] {url} /\n")
    opts = ["-o", f"Dir::Etc::sourcelist={root / 'sources.list'}", "-o", "Dir::Etc::sourceparts=-",
            "-o", f"Dir::Etc::preferencesparts={root / 'etc/preferences.d'}",
            "-o", f"Dir::Etc::parts={root / 'etc/apt.conf.d'}",
            "-o", f"Dir::State={root / 'state'}", "-o", f"Dir::Cache={root / 'cache'}",
            "-o", f"Dir::State::status={root / 'status'}", "-o", "Debug::NoLocking=1",
            "-o", "APT::Sandbox::User=root", "-o", "Acquire::Languages=none"]
    return subprocess.run(["apt-get", *opts, *args], capture_output=True, text=True, cwd=tmp, timeout=60)


def dearmored(url, tmp, name):
    armored = urllib.request.urlopen(url + "gpgkey", timeout=5).read()
    assert armored.startswith(b"-----BEGIN PGP PUBLIC KEY BLOCK-----")
    out = tmp / name
    subprocess.run(["gpg", "--batch", "--yes", "--dearmor", "-o", str(out)], input=armored, check=True)
    return out


def test_apt_fetches_verified_index_and_package(served_repo):
    url, fingerprint, tmp = served_repo
    keyring = dearmored(url, tmp, "nvidia-container-toolkit-keyring.gpg")
    update = apt(tmp, url, keyring, "update")
    assert update.returncode == 0, update.stdout + update.stderr
    assert "W:" not in update.stderr and "E:" not in update.stderr, update.stderr
    lists = list((tmp / "aptroot/state/lists").glob("*InRelease"))
    assert lists, "apt kept no InRelease"
    verify = subprocess.run(["gpgv", "--keyring", str(keyring), str(lists[0])], capture_output=True, text=True)
    assert verify.returncode == 0 and fingerprint[-16:] in verify.stderr.replace(" ", ""), verify.stderr
    download = apt(tmp, url, keyring, "download", f"nvidia-container-toolkit={deb.DEB_VERSION}",
                   "nvidia-container-toolkit-base")
    assert download.returncode == 0, download.stderr
    assert (tmp / f"nvidia-container-toolkit_{deb.DEB_VERSION}_all.deb").exists()


def test_apt_rejects_repo_signed_by_another_key(served_repo, tmp_path):
    url, _, tmp = served_repo
    aptrepo.ensure_key(tmp_path / "other-gnupg")
    other = tmp_path / "other.gpg"
    armored = subprocess.run(["gpg", "--homedir", str(tmp_path / "other-gnupg"), "--armor", "--export"],
                             capture_output=True, check=True).stdout
    aptrepo.stop_agent(tmp_path / "other-gnupg")
    subprocess.run(["gpg", "--batch", "--yes", "--dearmor", "-o", str(other)], input=armored, check=True)
    update = apt(tmp_path, url, other, "update")
    assert "NO_PUBKEY" in update.stderr or "not signed" in update.stderr, update.stderr
