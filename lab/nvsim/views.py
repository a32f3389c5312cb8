"""What the simulated driver writes beside its state at every change: NVML's view (read by the
lab's libnvidia-ml), the kernel's module list (lsmod) and the cached nvidia-smi listings.

The state store (state.py) knows nothing of them: `smi.locked` hands `write` to it, with the
simulator's own `run_on` to render the listings, so imports run one way.
"""
from __future__ import annotations

from pathlib import Path

from lab.atomic import write_atomic
from lab.nvsim import kmod, listings, nvmlview
from lab.nvsim import state as st


def write(state: dict, base: Path | None, run_on) -> None:
    write_atomic(st.view_path(base), nvmlview.render(state))
    write_atomic(st.modules_path(base), kmod.proc_modules(state.get("modules", st.DRIVER_MODULES)))
    listings.write(state, st.state_dir(base), run_on)
