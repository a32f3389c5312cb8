"""The lab's one way to replace a file: write beside it, then rename over it, so a reader (the
simulated driver's tools, Prometheus, dockerd, a lab command running at the same time) never sees
half a file. Also copied onto the lab hosts with the simulator (lab/nvsim/install.py)."""
from __future__ import annotations

import os
from pathlib import Path


def write_atomic(path: Path, data: str | bytes, mode: int | None = None) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    if isinstance(data, str):
        tmp.write_text(data, encoding="utf-8")
    else:
        tmp.write_bytes(data)
    if mode is not None:
        tmp.chmod(mode)
    os.replace(tmp, path)
