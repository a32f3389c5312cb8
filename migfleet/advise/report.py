"""advise over a whole inventory: problems per host, solved, shown as text or JSON, written as group data."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from migfleet.advise import capacity, demand
from migfleet.advise.problem import Assignment, HostProblem, HostResult, expand
from migfleet.advise.solve import SolveError, solve_host
from migfleet.advise.today import Other, TodayError, host_gpus
from migfleet.advise.write import WriteError, rules, write
from migfleet.mig.placed import summary

ADVISE_ERRORS = (demand.DemandError, capacity.CapacityError, TodayError, SolveError, WriteError)


@dataclass
class Advice:
    window: str
    headroom: float
    keep: float
    results: list[HostResult] = field(default_factory=list)
    others: dict[str, list[Other]] = field(default_factory=dict)
    unknown_hosts: list[str] = field(default_factory=list)      # demand for hosts not in the inventory
    notes: list[str] = field(default_factory=list)


def advise(hosts: Mapping[str, Mapping], measured: demand.Demand, table: capacity.Capacity,
           headroom: float = 1.3, keep: float = 1.0, time_limit: float | None = None) -> Advice:
    memory = dict(table.model_memory)
    for model, mib in measured.model_memory().items():
        memory[model] = max(memory.get(model, 0.0), mib)
    out = Advice(measured.window, headroom, keep)
    out.unknown_hosts = sorted({h for h, _ in measured.models} - set(hosts))
    for host in sorted(hosts):
        gpus, others = host_gpus(host, hosts[host])
        out.others[host] = others
        if not gpus:
            continue
        problem = HostProblem(host, gpus, measured.of_host(host), table, memory, headroom, keep)
        problem.details = {m: d for (h, m), d in measured.models.items() if h == host}
        blind = [m for m, r in problem.demand.items() if r > 0 and not any(
            rate > 0 for g in gpus for entry in table.profiles(g.geometry.model).values()
            for mm, rate in entry.rps.items() if mm == m)]
        if blind:
            models = ", ".join(sorted({g.geometry.model for g in gpus}))
            out.notes.append(f"{host}: no capacity known for {', '.join(sorted(blind))} on {models}: its demand "
                             "counts as unmet until the capacity table (--capacity) gives its rates")
        missing = [m for m in problem.universe if m not in memory]
        if missing:
            out.notes.append(f"{host}: no memory known for {', '.join(missing)} (capacity table models, or "
                             "dcgm-exporter): taken to fit any instance")
        out.results.append(solve_host(problem, time_limit))
    return out


def _gi_text(gpu, gi, models) -> str:
    name = gpu.geometry.profile(gi.profile_id).name
    return f"{name}@{gi.start}[{'all' if models is None else ','.join(sorted(models)) or '-'}]"


def _layout_text(gpu, a: Assignment) -> str:
    return f"{summary(a.layout, gpu.geometry)}: " + " ".join(_gi_text(gpu, gi, ms) for gi, ms in a.pairs())


def text(advice: Advice) -> str:
    lines = [f"advise: demand over {advice.window}, proposals for demand x {advice.headroom:g}, today's layout kept "
             f"while it serves demand x {advice.keep:g}"]
    changed = 0
    for r in advice.results:
        p = r.problem
        lines.append(f"{p.host}:")
        for m in p.universe:
            d = p.demand.get(m, 0.0)
            md = r.problem.details.get(m)
            timing = (f" (queue {md.queue_us / 1000:.2f} ms, compute {md.compute_us / 1000:.2f} ms a request)"
                      if md and md.queue_us is not None and md.compute_us is not None else "")
            lines.append(f"  {m}: demand {d:.1f} req/s{timing}, needs {d * p.headroom:.1f}; capacity of the "
                         f"instances loading it: today {_cap(r, m, today=True):.1f}, proposed {_cap(r, m):.1f}")
        for gpu, new in zip(p.gpus, r.proposal):
            head = f"  GPU {gpu.index} ({gpu.geometry.model})"
            if new == gpu.today:
                lines.append(f"{head}: keep {_layout_text(gpu, gpu.today)}")
            else:
                changed += 1
                lines.append(f"{head}: today    {_layout_text(gpu, gpu.today)}")
                lines.append(f"{' ' * len(head)}  proposed {_layout_text(gpu, new)}")
        for o in advice.others.get(p.host, []):
            lines.append(f"  GPU {o.index} ({o.model}): left alone ({o.why})")
        verdict = ("nothing proposed: today's layout serves the demand" if r.kept else
                   f"instances changed {r.score.disruption}, slices used {r.score.slices}, "
                   f"unmet {r.score.unmet:.1f} req/s" + (f", {r.score.missing} model(s) on no instance"
                                                          if r.score.missing else ""))
        how = "solved" if r.proven else "time limit reached, best found (not proven optimal)"
        lines.append(f"  -> {verdict} ({how} in {r.solve_s:.2f} s)")
    for h in advice.unknown_hosts:
        lines.append(f"note: demand for host {h}, which is not in the inventory: left out")
    lines += [f"note: {n}" for n in advice.notes]
    lines.append(f"advise: {changed} GPU(s) to change" if changed else "advise: nothing to change")
    return "\n".join(lines) + "\n"


def _cap(r: HostResult, model: str, today: bool = False) -> float:
    """Requests/s the instances could serve for one model, all their time spent on it."""
    p = r.problem
    chosen = [g.today for g in p.gpus] if today else r.proposal
    return sum(p.rps(g, gi, model) for g, a in zip(p.gpus, chosen) for gi, ms in a.pairs()
               if model in expand(p, ms))


def as_json(advice: Advice) -> dict:
    def assignment(gpu, a):
        return [{"profile": gpu.geometry.profile(gi.profile_id).name, "start": gi.start,
                 "models": None if ms is None else sorted(ms)} for gi, ms in a.pairs()]
    return {"window": advice.window, "headroom": advice.headroom, "keep_headroom": advice.keep, "hosts": [
        {"host": r.problem.host, "kept": r.kept, "demand": dict(r.problem.demand),
         "unmet": r.score.unmet, "disruption": r.score.disruption, "slices": r.score.slices, "solve_s": r.solve_s,
         "proven_optimal": r.proven,
         "gpus": [{"index": g.index, "model": g.geometry.model, "today": assignment(g, g.today),
                   "proposed": assignment(g, a), "changes": a != g.today} for g, a in zip(r.problem.gpus, r.proposal)]}
        for r in advice.results], "notes": advice.notes, "unknown_hosts": advice.unknown_hosts}


def write_proposal(advice: Advice, path: Path, source: str) -> None:
    gpus = {(r.problem.host, g.index): (g.geometry, a, g.uuid) for r in advice.results
            for g, a in zip(r.problem.gpus, r.proposal)}
    others = {(h, o.index): o for h, os in advice.others.items() for o in os}
    write(path, rules(gpus, others), f"migfleet advise: demand from {source}")
