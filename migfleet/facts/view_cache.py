"""What the deploy machine last read of each host, kept for the host's short answer (facts.noop_digest).

One file per host and read in the user's cache folder ($XDG_CACHE_HOME or ~/.cache)/migfleet/reads/:
the parsed value of the host's last full read, its digest, and the read it answers (the digest of
the read's command, so a read that asks for other files, trees or units never finds a value kept
for another). It only saves work: a file that is missing, corrupt, of another version or cannot be
written means a full read, as without it. Deploy machine only (pickle, of values it wrote itself).
"""
from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from dataclasses import dataclass
from pathlib import Path

from migfleet import __version__
from migfleet.facts import noop_digest

FORMAT = (1, __version__, noop_digest.VERSION)


@dataclass(frozen=True)
class Kept:
    digest: str         # noop_digest's digest of `value`
    value: object       # what the read parsed (a HostView, or a snapshot {uuid: GpuState})


def folder() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "migfleet" / "reads"


def read_key(command: str) -> str:
    """Names the read a kept value answers: the digest of its command."""
    return hashlib.sha256(command.encode()).hexdigest()


def _file(kind: str, host: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in host)[:80]
    return folder() / f"{kind}-{safe}-{hashlib.sha256(host.encode()).hexdigest()[:12]}.pickle"


def load(kind: str, host: str, key: str) -> Kept | None:
    """The value kept for this host and read, else None."""
    try:
        with open(_file(kind, host), "rb") as f:
            fmt, kept_key, kept = pickle.load(f)
    except Exception:       # noqa: BLE001 (missing, corrupt, another version's classes: a full read)
        return None
    if fmt != FORMAT or kept_key != key or not isinstance(kept, Kept):
        return None
    return kept


def save(kind: str, host: str, key: str, kept: Kept) -> None:
    """Keeps `kept` for this host and read (atomically; a failure to write is ignored)."""
    path = _file(kind, host)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as f:
            pickle.dump((FORMAT, key, kept), f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except (OSError, UnboundLocalError):
            pass


def forget(kind: str, host: str) -> None:
    try:
        _file(kind, host).unlink()
    except OSError:
        pass
