"""A plain `nvidia-smi` command in a temporary folder: the lab's simulated driver (lab/nvsim),
installed under a root of its own, its state in $NVSIM_ROOT. Nothing of the checkout is on its path."""
from __future__ import annotations

from pathlib import Path

from lab.nvsim import listings
from lab.nvsim.install import LIB, install

H100 = "NVIDIA H100 80GB HBM3"
A100 = "NVIDIA A100-SXM4-40GB"


def install_smi(root: Path, models: list[str], hostname: str = "sim1") -> dict[str, str]:
    """Install the simulator under `root`; returns the environment entries that put its
    `nvidia-smi` first on PATH and point it at its state: {"PATH": bin folder, "NVSIM_ROOT": root}."""
    install(root, hostname, models)
    bindir = root / "usr/bin"
    # install() writes the wrapper for a host's own root (/usr/lib/nvsim); point it at this one.
    (bindir / "nvidia-smi").write_text(listings.wrapper(str(root / LIB), str(root / "var/lib/nvsim/listings")))
    return {"PATH": str(bindir), "NVSIM_ROOT": str(root)}
