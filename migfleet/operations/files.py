"""Files, trees and systemd units, decided from the run's one host read (facts.host.HostView).

A tree sync writes a manifest of what it put on the host (facts.trees); the next host read hashes
only what differs from it, and the next sync removes only what it lists.

pyinfra's files.put/files.sync/systemd.service each read the host again (one round trip per
operation); these take the digest or state the host read already returned, so a converged host
costs no command here.
"""
from __future__ import annotations

import posixpath
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from io import BytesIO

from pyinfra import host
from pyinfra.api import FileUploadCommand, operation

from migfleet.digest import sha256
from migfleet.facts import trees
from migfleet.facts.trees import TreeNow
from migfleet.local_digests import LocalFile


def _upload(path: str, data: bytes | LocalFile, mode: str):
    src = data.path if isinstance(data, LocalFile) else BytesIO(data)
    yield FileUploadCommand(src, path, remote_temp_filename=host.get_temp_filename(path))
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


LEFT_ALONE_SHOWN = 10     # file names a message lists, at most


@dataclass(frozen=True)
class TreePlan:
    """What a tree sync does, from the local files and the tree on the host now (its manifest)."""
    remote_dir: str
    upload: tuple[str, ...]         # absent, different or unread on the host
    stale: tuple[str, ...]          # the previous manifest lists them, the new content lacks them: removed
    left_alone: tuple[str, ...]     # files migfleet did not write: never removed, never read again
    replaced: tuple[str, ...]       # of `upload`: files migfleet did not write, at a path the content has
    manifest: bool                  # the manifest must be written (anything else differs from it)

    @property
    def changes(self) -> bool:
        return bool(self.upload or self.stale or self.manifest)

    def left_alone_words(self) -> str:
        """'N file(s) migfleet did not write, left alone: a, b' ('' without any; names bounded)."""
        if not self.left_alone:
            return ""
        shown = ", ".join(self.left_alone[:LEFT_ALONE_SHOWN])
        more = f" and {len(self.left_alone) - LEFT_ALONE_SHOWN} more" if len(self.left_alone) > LEFT_ALONE_SHOWN else ""
        return f"{len(self.left_alone)} file(s) migfleet did not write, left alone: {shown}{more}"

    def notes(self) -> list[str]:
        """What a changing sync says besides its commands: the files it leaves alone (a sync that changes
        nothing says it in its no-op message; one that would replace a foreign file is refused by the
        deploy, context.queue_tree)."""
        if not self.changes or not self.left_alone:
            return []
        return [f"{self.remote_dir}: {self.left_alone_words()}"]


def digest_of(value: bytes | LocalFile) -> str:
    return value.sha256 if isinstance(value, LocalFile) else _bytes_digest(value)


@lru_cache(maxsize=4096)
def _bytes_digest(value: bytes) -> str:
    """The same bytes (migfleet's host code) are planned for every host of a run, twice each: hashed once."""
    return sha256(value)


def plan_tree(remote_dir: str, files: Mapping[str, bytes | LocalFile], now: TreeNow | None) -> TreePlan:
    now = now or TreeNow()
    on_host, want = now.digests(), {p: digest_of(v) for p, v in files.items()}
    upload = tuple(sorted(p for p, d in want.items() if on_host.get(p) != d))
    stale = tuple(sorted((set(now.written) | set(now.changed)) - set(want)))
    manifest = bool(upload or stale or now.gone or (want and not now.manifest)
                    or any(p not in now.written for p in want))
    return TreePlan(remote_dir, upload, stale, tuple(sorted(set(now.foreign) - set(want))),
                    tuple(p for p in upload if p in now.foreign), manifest)


def _stale_commands(remote_dir: str, stale: Sequence[str]):
    """Removes the stale files, then the folders they leave empty (inside the tree only)."""
    yield f"rm -f -- {' '.join(shlex.quote(posixpath.join(remote_dir, p)) for p in stale)}"
    parents = sorted({posixpath.dirname(p) for p in stale} - {""}, key=lambda d: (-d.count("/"), d))
    if parents:
        yield (f"cd {shlex.quote(remote_dir)} && rmdir -p --ignore-fail-on-non-empty -- "
               f"{' '.join(shlex.quote(d) for d in parents)} 2>/dev/null; true")


@operation()
def tree(remote_dir: str, files: Mapping[str, bytes | LocalFile], now: TreeNow | None, mode: str = "644",
         manifest_dir: str = trees.MANIFEST_DIR):
    """
    A directory holding these files (relative path -> content or local file), and a manifest of them.

    Removes only files that the tree's previous manifest lists and the new content lacks; files
    migfleet did not write stay (the no-op message names them). Writes the manifest (size and mtime
    as the host sees them after the upload) last, beside the other trees' manifests.

    + remote_dir: the directory on the host
    + files: relative path -> content (bytes) or LocalFile (uploaded from its path)
    + now: the tree on the host now, against its manifest (from the host read), None when never read
    + mode: permissions of the files written
    + manifest_dir: where the manifests live
    """
    plan = plan_tree(remote_dir, files, now)
    if not plan.changes:
        alone = plan.left_alone_words()
        host.noop(f"{remote_dir}: {len(files)} file(s) up to date" + (f"; {alone}" if alone else ""))
        return
    manifest = trees.manifest_path(remote_dir, manifest_dir)
    dirs = sorted({remote_dir, posixpath.dirname(manifest)}
                  | {posixpath.dirname(posixpath.join(remote_dir, p)) for p in plan.upload})
    yield "mkdir -p " + " ".join(shlex.quote(d) for d in dirs)
    for p in plan.upload:
        yield from _upload(posixpath.join(remote_dir, p), files[p], mode)
    if plan.stale:
        yield from _stale_commands(remote_dir, plan.stale)
    want = "".join(f"{digest_of(files[p])} {p}\n" for p in sorted(files)).encode()
    yield from _upload(f"{manifest}.want", want, "600")
    yield trees.write_command(remote_dir, f"{manifest}.want", manifest)


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
