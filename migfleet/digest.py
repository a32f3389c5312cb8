"""sha256 of a file's content as `sha256sum` prints it: what the deploy compares with the digests
the host read returned (facts.host), to write only the files that differ."""
from __future__ import annotations

import hashlib


def sha256(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()
