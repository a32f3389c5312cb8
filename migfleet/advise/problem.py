"""One host's advise problem and its answers, shared by the exact solver and the greedy baseline.

Demand is per host: a host's Envoy spreads a model's requests over that host's instances only,
so each host is solved on its own.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from migfleet.advise.capacity import Capacity
from migfleet.mig.geometry import Geometry
from migfleet.mig.placed import GpuLayout, PlacedGi

Models = frozenset[str] | None      # None: every model of the repository (no `models` list)


@dataclass(frozen=True)
class Assignment:
    """One GPU's layout and the models of each of its GPU instances (in `layout.gis` order)."""
    layout: GpuLayout
    models: tuple[Models, ...]

    def pairs(self) -> list[tuple[PlacedGi, Models]]:
        return list(zip(self.layout.gis, self.models))


@dataclass(frozen=True)
class Gpu:
    index: int
    geometry: Geometry
    today: Assignment
    uuid: str | None = None


@dataclass
class HostProblem:
    host: str
    gpus: list[Gpu]
    demand: Mapping[str, float]                 # model -> requests/s measured
    capacity: Capacity
    memory: Mapping[str, float] = field(default_factory=dict)   # model -> MiB one copy takes
    headroom: float = 1.3                       # a proposal serves demand x headroom
    keep: float = 1.0                           # today's layout stays while it serves demand x keep
    details: Mapping = field(default_factory=dict)              # model -> demand.ModelDemand, for the report

    @property
    def universe(self) -> list[str]:
        """The host's models: those with demand, and those its instances list today."""
        named = {m for g in self.gpus for ms in g.today.models if ms for m in ms}
        return sorted(named | {m for m, r in self.demand.items() if r > 0})

    def served_today(self) -> set[str]:
        """Models loaded somewhere on the host today; an instance without a list serves them all."""
        if any(ms is None for g in self.gpus for ms in g.today.models):
            return set(self.universe)
        return {m for g in self.gpus for ms in g.today.models if ms for m in ms}

    def required(self, factor: float) -> dict[str, float]:
        return {m: r * factor for m, r in self.demand.items() if r > 0}

    def rps(self, gpu: Gpu, gi: PlacedGi, model: str) -> float:
        return self.capacity.rps(gpu.geometry.model, gpu.geometry.profile(gi.profile_id).name, model)

    def gi_memory(self, gpu: Gpu, gi: PlacedGi) -> float:
        prof = gpu.geometry.profile(gi.profile_id)
        entry = self.capacity.profiles(gpu.geometry.model).get(prof.name)
        return entry.memory_mib if entry else prof.memory_mib

    def fits(self, gpu: Gpu, gi: PlacedGi, models: Sequence[str]) -> bool:
        return sum(self.memory.get(m, 0.0) for m in models) <= self.gi_memory(gpu, gi)


def expand(problem: HostProblem, models: Models) -> frozenset[str]:
    return frozenset(problem.universe) if models is None else models


def disruption(problem: HostProblem, proposal: Sequence[Assignment]) -> int:
    """Instances changed against today: today's that do not stay as they are (same placed GPU
    instance, same models), plus the new ones."""
    total = 0
    for gpu, new in zip(problem.gpus, proposal):
        have = {gi: expand(problem, ms) for gi, ms in gpu.today.pairs()}
        want = {gi: expand(problem, ms) for gi, ms in new.pairs()}
        kept = sum(1 for gi, ms in want.items() if have.get(gi) == ms)
        total += len(have) + len(want) - 2 * kept
    return total


def slices_used(problem: HostProblem, proposal: Sequence[Assignment]) -> int:
    return sum(g.geometry.profile(gi.profile_id).slices for g, a in zip(problem.gpus, proposal) for gi in a.layout.gis)


@dataclass
class Score:
    """What the objective ranks, in order: models no instance loads, unmet requests/s, disruption, slices."""
    missing: int
    unmet: float
    disruption: int
    slices: int
    served: dict[str, float] = field(default_factory=dict)      # model -> requests/s the instances can serve

    def key(self, tol: float = 1e-6) -> tuple:
        return (self.missing, round(self.unmet / tol) * tol if tol else self.unmet, self.disruption, self.slices)

    def no_worse_than(self, other: Score, tol: float = 1e-6) -> bool:
        """Lexicographically at most `other`, unmet compared within tol."""
        if self.missing != other.missing:
            return self.missing < other.missing
        if abs(self.unmet - other.unmet) > tol * max(1.0, other.unmet):
            return self.unmet < other.unmet
        return (self.disruption, self.slices) <= (other.disruption, other.slices)


@dataclass
class HostResult:
    problem: HostProblem
    proposal: list[Assignment]
    kept: bool                      # today's layout still serves demand x keep: nothing proposed
    today: Score
    score: Score
    solve_s: float = 0.0
    proven: bool = True             # False: the solver stopped at its time limit (best found, not proven optimal)
    notes: list[str] = field(default_factory=list)      # what the report should say about this host

    @property
    def changes(self) -> bool:
        return any(a != g.today for a, g in zip(self.proposal, self.problem.gpus))
