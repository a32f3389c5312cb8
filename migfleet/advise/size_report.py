"""A sized fleet shown: as text (each GPU's instances with their Triton settings, the baselines and
the bound) or as one JSON document (`--json`)."""
from __future__ import annotations

from dataclasses import dataclass

from migfleet.advise.size import Gpu, Sizing
from migfleet.advise.size_hosts import HostPlan


@dataclass
class SizeResult:
    sizing: Sizing
    headroom: float
    rates: dict[str, float]             # requests/s as given (before the headroom)
    whole_gpu: int | None               # GPUs with one full instance per GPU; None: it cannot serve the demand
    whole_why: str = ""                 # why not, when None
    full_profile: str = ""
    plan: HostPlan | None = None        # with --write
    sources: tuple[str, ...] = ()


def _target(ms) -> str:
    return "none given (any point)" if ms is None else f"{ms:g} ms"


def _instance(i) -> str:
    return (f"{i.profile}@{i.start} {i.model} (instance_count {i.point.instance_count}, max_batch_size "
            f"{i.point.max_batch_size}: {i.point.rate:.1f} req/s, p99 "
            f"{'unknown' if i.point.p99_ms is None else f'{i.point.p99_ms:g} ms'})")


def _gpus(gpus: list[Gpu], indent: str) -> list[str]:
    return [f"{indent}GPU {n}: " + "; ".join(_instance(i) for i in g.instances) for n, g in enumerate(gpus)]


def verdict(s: Sizing) -> str:
    if s.proven:
        return f"optimal (solved in {s.seconds:.2f} s)"
    return (f"time limit reached after {s.seconds:.2f} s, best found: at most {max(s.gap, 0)} GPU(s) above the "
            f"lower bound {max(s.bound, s.program_bound)}")


def text(r: SizeResult) -> str:
    s = r.sizing
    served = s.served()
    lines = [f"advise --size {s.gpu_model}: rates x {r.headroom:g} (headroom), each within its p99 target"]
    for m in sorted(s.needs):
        lines.append(f"  {m}: {r.rates.get(m, 0.0):.1f} req/s, needs {s.needs[m]:.1f}, p99 target "
                     f"{_target(s.targets.get(m))}; served {served.get(m, 0.0):.1f} by "
                     f"{sum(i.model == m for g in s.gpus for i in g.instances)} instance(s)")
    lines.append(f"GPUs: {len(s.gpus)} ({s.slices} compute slices, {s.instances} instances); {verdict(s)}")
    lines += _gpus(s.gpus, "  ")
    whole = (f"{r.whole_gpu} GPUs" if r.whole_gpu is not None else f"cannot serve it ({r.whole_why})")
    lines.append(f"whole-GPU serving (MIG off: {r.full_profile or 'the full profile'} only, one model per GPU): {whole}")
    lines.append(f"lower bound: {s.bound} GPUs (compute slices needed at each model's best rate per slice, "
                 f"over the slices of one GPU)")
    if r.plan is not None:
        p = r.plan
        lines.append(f"hosts: {p.hosts} (alike), {p.per_host} GPU(s) each, each serving 1/{p.hosts} of every rate: "
                     f"{p.hosts * len(p.host.gpus)} GPUs used ({len(p.host.gpus)} a host"
                     + (f", {p.per_host - len(p.host.gpus)} left alone" if len(p.host.gpus) < p.per_host else "")
                     + f"); one host: {verdict(p.host)}")
        lines += _gpus(p.host.gpus, "  host ")
    return "\n".join(lines) + "\n"


def _gpu_json(g: Gpu) -> dict:
    return {"instances": [{"profile": i.profile, "placement": i.start, "models": [i.settings()],
                           "rate": i.point.rate, "p99_ms": i.point.p99_ms, "concurrency": i.point.concurrency,
                           "memory_mib": i.point.memory_mib} for i in g.instances]}


def _sizing_json(s: Sizing) -> dict:
    return {"gpus": len(s.gpus), "slices": s.slices, "instances": s.instances, "proven_optimal": s.proven,
            "gap_gpus": s.gap, "program_bound": s.program_bound, "solve_s": round(s.seconds, 3),
            "layouts": [_gpu_json(g) for g in s.gpus]}


def as_json(r: SizeResult) -> dict:
    s = r.sizing
    out = {"gpu_model": s.gpu_model, "headroom": r.headroom,
           "models": {m: {"rate": r.rates.get(m, 0.0), "needs": s.needs[m], "p99_ms": s.targets.get(m),
                          "served": s.served().get(m, 0.0)} for m in sorted(s.needs)},
           **_sizing_json(s), "lower_bound": s.bound, "whole_gpu": r.whole_gpu, "capacity": list(r.sources)}
    if r.plan is not None:
        out["hosts"] = {"hosts": r.plan.hosts, "gpus_per_host": r.plan.per_host, "host": _sizing_json(r.plan.host)}
    return out
