"""A stand-in host for `migfleet measure`'s controller loop: answers each `migfleet.measure.host`
action as the host would, from a model of the GPU, one Triton and perf_analyzer, and keeps a log."""
from __future__ import annotations

import json
import shlex

from migfleet.mig import catalog

A100 = "NVIDIA A100-SXM4-40GB"
UUID = "GPU-00000000-0000-0000-0000-000000000001"


def rate_of(model: str, profile: str, mbs: int, count: int, c: int) -> tuple[float, float]:
    """(requests/s, p99 ms): more slices, batching and instances serve more; queueing grows the p99."""
    slices = next(p.slices for p in catalog.lookup(A100).profiles if p.name == profile)
    ceiling = 100.0 * slices * (1 + (mbs > 0)) * (1 + 0.5 * (count - 1)) * (2 if model == "b" else 1)
    rate = min(ceiling, 60.0 * c)
    return rate, 1000.0 * c / rate + 1.0


class StandIn:
    def __init__(self, stop_after_perf: int | None = None):
        self.log: list[tuple[str, dict]] = []
        self.perf_runs: list[tuple] = []
        self.stop_after_perf = stop_after_perf
        self.profile = None
        self.loaded = None

    def __call__(self, command: str, timeout: float = 60) -> tuple[int, str, str]:
        if "migfleet.measure.host" not in command:
            if command.startswith("test -f"):
                return 0, "", ""
            if "driver_version" in command:
                return 0, "550.90.07\n", ""
            if command.startswith("curl"):
                return 0, json.dumps({"name": "triton", "version": "2.51.0"}), ""
            return 1, "", f"stand-in: unknown command {command[:80]}"
        words = shlex.split(command)
        action, args = words[-2], json.loads(words[-1])
        self.log.append((action, args))
        return 0, json.dumps(getattr(self, action)(args)), ""

    def begin(self, a):
        return {"stopped": ["triton-gpu0-s0"], "resumed": False}

    def layout(self, a):
        gi = a["layout"]["gis"][0]
        self.profile = next(p.name for p in catalog.lookup(A100).profiles if p.id == gi["profile"])
        return {"gis": [{"gi_id": 7, "start": gi["start"]}]}

    def triton(self, a):
        return {"name": json.loads(a["run"])["name"]}

    def load(self, a):
        self.loaded = (a["model"], a["max_batch_size"], a["instance_count"])
        return {"max_batch_size": a["max_batch_size"], "instance_counts": [a["instance_count"]], "dynamic_batching": True}

    def perf(self, a):
        if self.stop_after_perf is not None and len(self.perf_runs) >= self.stop_after_perf:
            raise KeyboardInterrupt
        model, mbs, count = self.loaded
        key = (self.profile, model, mbs, count, a["concurrency"])
        self.perf_runs.append(key)
        rate, p99 = rate_of(model, self.profile, mbs, count, a["concurrency"])
        return {"concurrency": a["concurrency"], "throughput_infer_s": rate, "p50_ms": p99 / 2, "p90_ms": p99 * 0.8,
                "p95_ms": p99 * 0.9, "p99_ms": p99}

    def memory(self, a):
        return {"memory_mib": 512.0}

    def end(self, a):
        return {"restored": True}
