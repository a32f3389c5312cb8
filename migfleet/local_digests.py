"""sha256 of local files, cached by (absolute path, size, mtime_ns), so a no-op run does not read
every byte of a large model repository again.

The cache is one JSON file in the user's cache folder ($XDG_CACHE_HOME or ~/.cache)/migfleet/. It
only saves work: a cache that is missing, corrupt or cannot be written is ignored.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

CACHE_NAME = "digests.json"


@dataclass(frozen=True)
class LocalFile:
    """A local file to sync, by path (read only when uploaded) and its sha256."""
    path: str
    sha256: str


def cache_file() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "migfleet" / CACHE_NAME


def _load(path: Path) -> dict[str, list]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, list) and len(v) == 3 and isinstance(v[2], str)}


def _save(path: Path, entries: dict[str, list]) -> None:
    """Atomically (temp + rename), dropping files that are gone; a failure only loses the cache."""
    kept = {k: v for k, v in entries.items() if os.path.exists(k)}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{CACHE_NAME}.")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(kept, f, separators=(",", ":"))
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        pass


def _hash(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def digests(paths: Iterable[str | os.PathLike], cache: Path | None = None) -> dict[str, str]:
    """{absolute path: sha256} of these files, read only where the cache has no entry for the file's
    size and mtime."""
    where = cache or cache_file()
    entries = _load(where)
    out, dirty = {}, False
    for p in paths:
        name = os.path.abspath(p)
        st = os.stat(name)
        key = [st.st_size, st.st_mtime_ns]
        hit = entries.get(name)
        if hit is not None and hit[:2] == key:
            out[name] = hit[2]
            continue
        digest = _hash(name)
        after = os.stat(name)
        if [after.st_size, after.st_mtime_ns] == key:      # not cached if it changed while read
            entries[name] = [*key, digest]
            dirty = True
        out[name] = digest
    if dirty:
        _save(where, entries)
    return out


def local_files(root: Path, files: Iterable[Path], cache: Path | None = None) -> dict[str, LocalFile]:
    """{path relative to root: LocalFile} of these files under root."""
    found = {str(p.relative_to(root)): os.path.abspath(p) for p in files}
    sums = digests(found.values(), cache)
    return {rel: LocalFile(path, sums[path]) for rel, path in found.items()}
