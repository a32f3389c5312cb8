"""advise over a whole inventory: problems per host, solved, shown as text or JSON, written as group data."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from migfleet.advise import capacity, demand
from migfleet.advise.problem import Assignment, HostProblem, HostResult, expand
from migfleet.advise.fleet import Failure, solve_hosts
from migfleet.advise.program import SolveError
from migfleet.advise.today import Other, TodayError, host_gpus
from migfleet.advise.write import WriteError, rules, write
from migfleet.inventory.paths import MODEL_REPOSITORY, local_path, models_in
from migfleet.mig.placed import summary
from migfleet.serving.settings import defaults as serving_defaults

ADVISE_ERRORS = (demand.DemandError, capacity.CapacityError, TodayError, SolveError, WriteError)


@dataclass
class Advice:
    window: str
    headroom: float
    keep: float
    results: list[HostResult] = field(default_factory=list)
    others: dict[str, list[Other]] = field(default_factory=dict)
    unknown_hosts: list[str] = field(default_factory=list)      # demand for hosts not in the inventory
    notes: list[str] = field(default_factory=list)              # warnings: what was left out or assumed, and why
    failed: dict[str, str] = field(default_factory=dict)        # host -> why it was not solved (one line)


def known_models(hosts: Mapping[str, Mapping], folder: Path | None) -> dict[str, frozenset[str] | None]:
    """Per host, the models it can load: its model repository's (resolved against the inventory's
    folder) and those its mig_layout lists; None where the repository cannot be read (any model)."""
    seen: dict[str, frozenset[str] | None] = {}
    out = {}
    for host, data in hosts.items():
        value = data.get(MODEL_REPOSITORY, serving_defaults().get(MODEL_REPOSITORY))
        if folder is None or not isinstance(value, str) or not value or data.get("mig_only") is True:
            out[host] = None
            continue
        if value not in seen:
            try:
                root = local_path(value, folder)
                seen[value] = frozenset(models_in(root)) if root.is_dir() else None
            except OSError:
                seen[value] = None
        listed = {m for rule in data.get("mig_layout") or () if isinstance(rule, Mapping)
                  for inst in [rule, *(rule.get("instances") or ())] if isinstance(inst, Mapping)
                  for m in inst.get("models") or () if isinstance(m, str)}
        out[host] = None if seen[value] is None else seen[value] | listed
    return out


def without_instance(r: HostResult) -> list[str]:
    """Models served today or with demand that no instance of the proposal loads."""
    p = r.problem
    loaded = {m for a in r.proposal for _, ms in a.pairs() for m in expand(p, ms)}
    return sorted((p.served_today() | {m for m, d in p.demand.items() if d > 0}) - loaded)


def advise(hosts: Mapping[str, Mapping], measured: demand.Demand, table: capacity.Capacity,
           headroom: float = 1.3, keep: float = 1.0, time_limit: float | None = None,
           folder: Path | None = None, source: str = "demand", workers: int | None = None) -> Advice:
    """Every host solved on its own: a host that cannot be (no GPU models, no solution) is named with
    the reason in `failed`, and the others are still solved. Demand for hosts, or models, the
    inventory does not know is left out and named (DemandError when none is left)."""
    out = Advice(measured.window, headroom, keep)
    out.unknown_hosts = sorted({h for h, _ in measured.models} - set(hosts))
    measured, out.notes = demand.known_only(measured, known_models(hosts, folder), source)
    memory = dict(table.model_memory)
    for model, mib in measured.model_memory().items():
        memory[model] = max(memory.get(model, 0.0), mib)
    problems = []
    for host in sorted(hosts):
        try:
            gpus, others = host_gpus(host, hosts[host])
        except TodayError as exc:
            out.failed[host] = str(exc)
            continue
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
        problems.append(problem)
    for r in solve_hosts(problems, time_limit, workers):      # in parallel, identical hosts solved once
        if isinstance(r, Failure):
            out.failed[r.host] = r.reason
        else:
            out.results.append(r)
            out.notes += r.notes
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
        if without_instance(r):
            lines.append(f"  -> left without an instance: {', '.join(without_instance(r))}")
    lines += [f"{h}: not solved (the error says why)" for h in advice.failed]
    end = f"advise: {changed} GPU(s) to change" if changed else "advise: nothing to change"
    lines.append(end + (f"; {len(advice.failed)} host(s) not solved" if advice.failed else ""))
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
         "proven_optimal": r.proven, "models_without_instance": without_instance(r),
         "gpus": [{"index": g.index, "model": g.geometry.model, "today": assignment(g, g.today),
                   "proposed": assignment(g, a), "changes": a != g.today} for g, a in zip(r.problem.gpus, r.proposal)]}
        for r in advice.results], "notes": advice.notes, "unknown_hosts": advice.unknown_hosts,
        "failed_hosts": dict(advice.failed)}


def write_proposal(advice: Advice, path: Path, source: str) -> None:
    gpus = {(r.problem.host, g.index): (g.geometry, a, g.uuid) for r in advice.results
            for g, a in zip(r.problem.gpus, r.proposal)}
    others = {(h, o.index): o for h, os in advice.others.items() for o in os}
    write(path, rules(gpus, others), f"migfleet advise: demand from {source}")
