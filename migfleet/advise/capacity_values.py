"""The values of a capacity table, shared by its readers (version 1 and 2) and by demand files.

`Capacity` (what the tables say, merged), `ProfileCapacity` (one profile of one GPU model), the error,
the bounds, and the checks each number and name passes: finite, within its bound, a model name as the
inventory's `models` lists take it, a GPU model and profile from the catalog.
"""
from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from migfleet.advise.points import Point, best
from migfleet.inventory.errors import cut, escaped, shown
from migfleet.inventory.schema import SCHEMA_DIR
from migfleet.mig import catalog
from migfleet.mig.catalog import norm_model

# Requests/s, per host and model (demand) or per instance and model (a table). Far above what one
# host's Tritons serve; it keeps the solver's numbers (demand x headroom, a missing model's weight
# of 1 + all demand) within what HiGHS resolves exactly. 1e308 would overflow them.
MAX_RPS = 1e6
MAX_P99_MS = 3_600_000      # an hour


class CapacityError(ValueError):
    """A capacity table that cannot be used; the message names file, field and reason."""


@dataclass(frozen=True)
class ProfileCapacity:
    memory_mib: int
    rps: Mapping[str, float]        # model -> requests/s one instance serves at the p99 target
    points: Mapping[str, tuple[Point, ...]] = field(default_factory=dict)     # model -> what the rate was picked from


@dataclass
class Capacity:
    gpus: dict[str, dict[str, ProfileCapacity]] = field(default_factory=dict)   # GPU model -> profile name -> ...
    model_memory: dict[str, float] = field(default_factory=dict)                # model -> MiB
    p99_ms: dict[str, float] = field(default_factory=dict)                      # source file -> target
    sources: list[str] = field(default_factory=list)
    model_p99: dict[str, float] = field(default_factory=dict)                   # model -> its p99 target (ms)

    def put(self, gpu: str, profile: str, memory_mib: int, points: Mapping[str, tuple[Point, ...]]) -> None:
        """A profile's points per model (a later table's win per model); each rate the best point's."""
        old = self.gpus.setdefault(gpu, {}).get(profile)
        merged = {**(old.points if old else {}), **points}
        self.gpus[gpu][profile] = ProfileCapacity(memory_mib, {}, merged)
        self._pick(gpu, profile)

    def _pick(self, gpu: str, profile: str) -> None:
        entry = self.gpus[gpu][profile]
        rps = {}
        for model, pts in entry.points.items():
            chosen = best(pts, self.model_p99.get(model))
            if chosen is not None:
                rps[model] = chosen.rate
        self.gpus[gpu][profile] = ProfileCapacity(entry.memory_mib, rps, entry.points)

    def retarget(self, targets: Mapping[str, float]) -> None:
        """Per-model p99 targets (ms) that win over the tables'; every rate picked again."""
        self.model_p99.update(targets)
        for gpu, table in self.gpus.items():
            for profile in table:
                self._pick(gpu, profile)

    def points(self, gpu_model: str, profile: str, model: str) -> list[Point]:
        """Every point measured (or a version-1 rate) for one model on one instance of `profile`."""
        entry = self.profiles(gpu_model).get(profile)
        return list(entry.points.get(model, ())) if entry else []

    def best(self, gpu_model: str, profile: str, model: str) -> Point | None:
        """The point whose rate `rps` gives: the best within the model's p99 target."""
        return best(self.points(gpu_model, profile, model), self.model_p99.get(model))

    def profiles(self, gpu_model: str) -> dict[str, ProfileCapacity]:
        for name, table in self.gpus.items():
            if norm_model(name) == norm_model(gpu_model):
                return table
        return {}

    def rps(self, gpu_model: str, profile: str, model: str) -> float:
        entry = self.profiles(gpu_model).get(profile)
        return float(entry.rps.get(model, 0.0)) if entry else 0.0

    def models(self) -> set[str]:
        return {m for t in self.gpus.values() for p in t.values() for m in p.rps}


@lru_cache(maxsize=1)
def max_mib() -> int:
    """The most memory of any GPU in the catalog (MiB): no instance, and no model on one, holds more."""
    return max(catalog.lookup(m).memory_mib for m in catalog.all_models())


@lru_cache(maxsize=1)
def _model_name_rule() -> tuple[re.Pattern, int, str]:
    """The inventory's rule for a model name (a model repository folder), from its schema."""
    items = json.loads((SCHEMA_DIR / "mig.v1.json").read_text(encoding="utf-8"))["$defs"]["models"]["items"]
    return re.compile(items["pattern"]), items["maxLength"], items["errorMessage"]["pattern"]


def model_name_problem(name) -> str | None:
    """Why `name` cannot be a model's name, as the inventory's `models` lists are checked; None if it can."""
    pattern, longest, why = _model_name_rule()
    if not isinstance(name, str):
        return f"{shown(name)} is not a model name (wants a string)"
    if len(name) > longest:
        return f"{shown(name)} is not a model name (at most {longest} characters)"
    if not pattern.search(name):
        return f"{shown(name)} {why}"
    return None


def key(part) -> str:
    """One key of a JSON path as shown in a message: cut, non-ASCII escaped."""
    return escaped(cut(str(part), 60))


def number(value, where: str, high: float, unit: str = "", positive: bool = False) -> float:
    """A finite number within [0 (or above 0), high]; CapacityError naming `where` otherwise."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok:
        try:
            ok = math.isfinite(value) and (value > 0 if positive else value >= 0) and value <= high
        except OverflowError:       # an int too large for a float
            ok = False
    if not ok:
        low = "above 0" if positive else ">= 0"
        top = f"{high:.0f}" if high < 1e12 else f"{high:g}"
        raise CapacityError(f"{where}: wants a finite number {low} and at most {top}{unit}, not {shown(value)}")
    return float(value)


def mapping(value, where: str, wants: str) -> Mapping:
    if not isinstance(value, Mapping):
        raise CapacityError(f"{where}: wants a mapping of {wants}, not {shown(value)}")
    return value


def model_name(name, where: str) -> str:
    problem = model_name_problem(name)
    if problem:
        raise CapacityError(f"{where}: {problem}")
    return name


def catalog_model(name, where: str) -> str:
    for model in catalog.all_models():
        if norm_model(model) == norm_model(str(name)):
            return model
    raise CapacityError(f"{where}: {shown(name)} is not a GPU model migfleet knows "
                        f"({', '.join(catalog.all_models())})")


def catalog_profile(geometry, gpu: str, name, where: str):
    try:
        return geometry.profile(str(name))
    except KeyError:
        names = ", ".join(p.name for p in geometry.profiles)
        raise CapacityError(f"{where}: no such profile on {gpu}; its profiles are {names}") from None


def no_repeats(pairs: list[tuple[str, object]]) -> dict:
    out = {}
    for k, v in pairs:
        if k in out:
            raise CapacityError(f"key {shown(k)} is given twice in one object; JSON would keep only the last")
        out[k] = v
    return out


def json_data(text: str | bytes, longest: int = 300) -> object:
    """JSON as the tables and demand files are read: no key twice, no nesting past the parser's depth;
    CapacityError saying why (without the file, which the caller names)."""
    try:
        return json.loads(text, object_pairs_hook=no_repeats)
    except CapacityError:
        raise
    except RecursionError:
        raise CapacityError("not JSON migfleet can read: it nests too deeply") from None
    except ValueError as exc:       # UnicodeDecodeError included
        raise CapacityError(f"not JSON: {cut(str(exc), longest)}") from None
