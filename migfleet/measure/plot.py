"""Plots of a capacity table (`migfleet measure --plot DIR`, or `python -m migfleet.measure.plot TABLE DIR`):
per GPU model, the rate each profile serves each model at its p99 target (the rate advise uses), and
that rate per compute slice (which profile gives the most for the GPU it takes). matplotlib.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

from migfleet.advise import capacity
from migfleet.mig import catalog


def rates(cap: capacity.Capacity, gpu: str) -> dict[str, dict[str, float]]:
    """{model: {profile: requests/s at the model's p99 target}}, profiles in catalog order (smallest first)."""
    geometry = catalog.lookup(gpu)
    order = {p.name: (p.slices, p.memory_mib) for p in geometry.profiles}
    profiles = sorted(cap.profiles(gpu), key=lambda p: order.get(p, (0, 0)))
    models = sorted({m for p in profiles for m in cap.profiles(gpu)[p].points})
    return {m: {p: cap.rps(gpu, p, m) for p in profiles if cap.points(gpu, p, m)} for m in models}


def draw(table: str | Path, out_dir: str | Path) -> list[Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    cap = capacity.load([table])
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for gpu in sorted(cap.gpus):
        geometry = catalog.lookup(gpu)
        slices = {p.name: p.slices for p in geometry.profiles}
        by_model = rates(cap, gpu)
        profiles = list(dict.fromkeys(p for r in by_model.values() for p in r))
        fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
        width = 0.8 / max(len(by_model), 1)
        for i, (model, r) in enumerate(sorted(by_model.items())):
            xs = [profiles.index(p) + i * width for p in r]
            target = cap.model_p99.get(model)
            label = f"{model} (p99 <= {target:g} ms)" if target else model
            axes[0].bar(xs, list(r.values()), width, label=label)
            axes[1].bar(xs, [v / slices[p] for p, v in r.items()], width, label=label)
        for ax, what in zip(axes, ("requests/s at the p99 target", "requests/s per compute slice")):
            ax.set_xticks([j + width * (len(by_model) - 1) / 2 for j in range(len(profiles))], profiles)
            ax.set_ylabel(what)
            ax.set_xlabel("profile (one instance, the model alone on it)")
            ax.legend(fontsize=8)
        fig.suptitle(f"{gpu}: measured alone on the instance (no neighbours on the GPU)")
        fig.tight_layout()
        path = out_dir / f"{re.sub(r'[^A-Za-z0-9._-]+', '_', gpu)}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    return written


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m migfleet.measure.plot TABLE DIR")
    for written_path in draw(sys.argv[1], sys.argv[2]):
        print(written_path)
