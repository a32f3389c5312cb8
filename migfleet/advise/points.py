"""One measured point of a capacity table, and the best point within a p99 target.

A point is one perf_analyzer run of one model alone on one instance of one profile, under one Triton
setting (max batch size with dynamic batching, instance-group count) at one client concurrency:
the rate it served and the latencies it served it at. `migfleet measure` writes them (table version
2); a version-1 table's rate is one point at the table's p99 (docs/ADVISE.md, docs/MEASURE.md).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

FIELDS = ("max_batch_size", "instance_count", "concurrency", "rate", "p50_ms", "p95_ms", "p99_ms", "memory_mib")


@dataclass(frozen=True)
class Point:
    max_batch_size: int         # 0: no batching (the model's own config); N: dynamic batching up to N
    instance_count: int         # model instances in the instance group
    concurrency: int            # requests perf_analyzer kept in flight (0: not known, a version-1 rate)
    rate: float                 # requests/s served
    p50_ms: float | None        # None where the table does not say (version 1)
    p95_ms: float | None
    p99_ms: float | None        # None: unknown, taken as within any target (a version-1 table without p99_ms)
    memory_mib: float | None    # GPU memory the loaded model held on the instance

    def to_json(self) -> dict:
        return asdict(self)


def within(point: Point, p99_target_ms: float | None) -> bool:
    """The point's p99 is within the target (no target, or an unknown p99: within)."""
    return p99_target_ms is None or point.p99_ms is None or point.p99_ms <= p99_target_ms


def best(points: Iterable[Point], p99_target_ms: float | None) -> Point | None:
    """The point with the highest rate whose p99 is within the target; None when none is. Ties go
    to the fewer instances, then the smaller batch, then the lower concurrency (the cheaper setting)."""
    ok = [p for p in points if within(p, p99_target_ms)]
    if not ok:
        return None
    return max(ok, key=lambda p: (p.rate, -p.instance_count, -p.max_batch_size, -p.concurrency))
