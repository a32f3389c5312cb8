"""Files, trees and systemd units, decided from the run's one host read (facts.host.HostView).

pyinfra's files.put/files.sync/systemd.service each read the host again (one round trip per
operation); these take the digest or state the host read already returned, so a converged host
costs no command here.
"""
from __future__ import annotations

import hashlib
import posixpath
import shlex
from collections.abc import Mapping
from io import BytesIO

from pyinfra import host
from pyinfra.api import FileUploadCommand, operation


def sha256(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def _upload(path: str, data: bytes, mode: str):
    yield FileUploadCommand(BytesIO(data), path, remote_temp_filename=host.get_temp_filename(path))
    yield f"chmod {mode} {shlex.quote(path)}"


@operation()
def content(path: str, text: str | bytes, digest_now: str | None, mode: str = "644"):
    """
    A file with exactly this content, replaced by rename (readers never see half a file).

    + path: the file on the host
    + text: its content
    + digest_now: sha256 of the file now (from the host read), None when absent
    + mode: its permissions
    """
    data = text.encode() if isinstance(text, str) else text
    if digest_now == sha256(data):
        host.noop(f"{path} up to date")
        return
    yield f"mkdir -p {shlex.quote(posixpath.dirname(path))}"
    yield from _upload(path, data, mode)


@operation()
def tree(remote_dir: str, files: Mapping[str, bytes], digests_now: Mapping[str, str] | None,
         mode: str = "644", delete: bool = True):
    """
    A directory holding exactly these files (relative path -> content).

    + remote_dir: the directory on the host
    + files: relative path -> content
    + digests_now: relative path -> sha256 on the host now (from the host read), None when absent
    + delete: remove files not in `files`
    """
    now = digests_now or {}
    changed = sorted(p for p, data in files.items() if now.get(p) != sha256(data))
    stale = sorted(set(now) - set(files)) if delete else []
    if not changed and not stale:
        host.noop(f"{remote_dir}: {len(files)} file(s) up to date")
        return
    dirs = sorted({posixpath.dirname(posixpath.join(remote_dir, p)) for p in changed})
    if dirs:
        yield "mkdir -p " + " ".join(shlex.quote(d) for d in dirs)
    for p in changed:
        yield from _upload(posixpath.join(remote_dir, p), files[p], mode)
    if stale:
        yield "rm -f " + " ".join(shlex.quote(posixpath.join(remote_dir, p)) for p in stale)


@operation()
def unit(unit: str, text: str, digest_now: str | None, enabled_now: str, start: bool = False):
    """
    A systemd unit file in /etc/systemd/system, loaded and enabled.

    + unit: the unit, e.g. migfleet-mig.service
    + text: its file
    + digest_now: sha256 of its file now (host read), None when absent
    + enabled_now: what `systemctl is-enabled` said in the host read
    + start: also start it now (oneshot units that apply something at boot are not started)
    """
    path = f"/etc/systemd/system/{unit}"
    changed = digest_now != sha256(text)
    if not changed and enabled_now == "enabled":
        host.noop(f"{unit} installed and enabled")
        return
    if changed:
        yield from _upload(path, text.encode(), "644")
        yield "systemctl daemon-reload"
    if enabled_now != "enabled":
        yield f"systemctl enable {'--now ' if start else ''}{shlex.quote(unit)}"
