"""The capacity table: what one instance of each profile serves per model, and memory.

File format (JSON or YAML; docs/ADVISE.md):

    version: 1
    p99_ms: 50                    # the latency target the rates hold at
    source: how the numbers were measured
    models:                       # memory one loaded copy of a model takes (MiB); optional
      resnet50: {memory_mib: 1400}
    gpus:
      NVIDIA H100 80GB HBM3:      # product name as nvidia-smi prints it
        7g.80gb: {rps: {resnet50: 150.8}, memory_mib: 81152}   # memory_mib: the catalog's if left out

Version 2 (`migfleet measure`'s, migfleet.advise.capacity_v2) gives the measured points instead of a
rate: a profile's rate for a model is then its best point within the model's p99 target (the
table's per-model `p99_ms`, or `retarget`'s, from advise's `--p99-ms MODEL=MS`). A version-1 rate is
one point at the table's p99 (`points`), so both read alike.

Several tables merge: a later one's rate for the same GPU model, profile and model wins.
A table may come from anywhere: it is read within the mig-parted reader's limits (size, UTF-8,
nesting, aliases expanded, repeated keys), and every number is checked against what it stands for:
rates finite, >= 0 and at most MAX_RPS; a profile's memory at most the catalog's for that profile.
"""
from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from migfleet.advise.points import Point, best
from migfleet.fleet import migparted_read
from migfleet.inventory.errors import cut, escaped, shown
from migfleet.inventory.schema import SCHEMA_DIR
from migfleet.mig import catalog
from migfleet.mig.catalog import norm_model

TABLES = Path(__file__).with_name("tables")
SHIPPED = ("lab.json", "h100.json")
MAX_BYTES = migparted_read.MAX_BYTES
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


def _mapping(value, where: str, wants: str) -> Mapping:
    if not isinstance(value, Mapping):
        raise CapacityError(f"{where}: wants a mapping of {wants}, not {shown(value)}")
    return value


def _model(name, where: str) -> str:
    problem = model_name_problem(name)
    if problem:
        raise CapacityError(f"{where}: {problem}")
    return name


def _catalog_model(name, where: str) -> str:
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


def parse(data, source: str, into: Capacity | None = None) -> Capacity:
    """A parsed table (version 1 or 2), merged into `into` (a new Capacity when None)."""
    cap = into if into is not None else Capacity()
    version = data.get("version") if isinstance(data, Mapping) else None
    if version not in (1, 2) or isinstance(version, bool) or "gpus" not in data:
        raise CapacityError(f"{source}: not a capacity table (wants `version: 1` or `version: 2` and a `gpus` mapping)")
    if version == 2:
        from migfleet.advise import capacity_v2
        return capacity_v2.parse(data, source, cap)
    extra = sorted(map(str, set(data) - {"version", "p99_ms", "source", "models", "gpus"}))
    if extra:
        raise CapacityError(f"{source}: unknown key(s) {cut(', '.join(extra), 200)}")
    if "p99_ms" in data:
        cap.p99_ms[source] = number(data["p99_ms"], f"{source}: $.p99_ms", MAX_P99_MS, " ms", positive=True)
    models = data.get("models")
    for model, entry in _mapping({} if models is None else models, f"{source}: $.models",
                                 "model -> {memory_mib: N}").items():
        where = f"{source}: $.models.{key(model)}"
        _model(model, f"{source}: $.models")
        if not isinstance(entry, Mapping) or set(entry) - {"memory_mib"}:
            raise CapacityError(f"{where}: wants {{memory_mib: N}}, not {shown(entry)}")
        if "memory_mib" in entry:
            cap.model_memory[model] = number(entry["memory_mib"], f"{where}.memory_mib", max_mib(), " MiB "
                                             "(the most memory of any GPU migfleet knows)")
    seen_gpus: dict[str, str] = {}
    for gpu_name, profiles in _mapping(data["gpus"], f"{source}: $.gpus", "GPU model -> profiles").items():
        gpu = _catalog_model(gpu_name, f"{source}: $.gpus")
        if gpu in seen_gpus:
            raise CapacityError(f"{source}: $.gpus: {shown(gpu_name)} and {shown(seen_gpus[gpu])} name the same "
                                f"GPU model ({gpu}); give its profiles once")
        seen_gpus[gpu] = gpu_name
        geometry = catalog.lookup(gpu)
        here = f"{source}: $.gpus.{key(gpu_name)}"
        cap.gpus.setdefault(gpu, {})
        seen: dict[str, str] = {}
        for pname, entry in _mapping(profiles, here, "profile -> {rps, memory_mib}").items():
            where = f"{here}.{key(pname)}"
            profile = catalog_profile(geometry, gpu, pname, where)
            if profile.name in seen:
                raise CapacityError(f"{where}: the same profile as {key(seen[profile.name])}; give it once")
            seen[profile.name] = str(pname)
            if not isinstance(entry, Mapping) or not isinstance(entry.get("rps"), Mapping) \
                    or set(entry) - {"rps", "memory_mib"}:
                raise CapacityError(f"{where}: wants {{rps: {{MODEL: requests/s}}, memory_mib: N}}, not {shown(entry)}")
            memory = int(number(entry.get("memory_mib", profile.memory_mib), f"{where}.memory_mib", profile.memory_mib,
                                f" MiB (the memory of a {profile.name} of {gpu})", positive=True))
            p99 = cap.p99_ms.get(source) if "p99_ms" in data else None
            found = {}
            for m, v in entry["rps"].items():
                _model(m, f"{where}.rps")
                rate = number(v, f"{where}.rps.{key(m)}", MAX_RPS, " requests/s")
                found[m] = (Point(0, 1, 0, rate, None, None, p99, cap.model_memory.get(m)),)
            cap.put(gpu, profile.name, memory, found)
    cap.sources.append(source + (f": {cut(str(data['source']), 300)}" if data.get("source") else ""))
    return cap


def no_repeats(pairs: list[tuple[str, object]]) -> dict:
    out = {}
    for k, v in pairs:
        if k in out:
            raise CapacityError(f"key {shown(k)} is given twice in one object; JSON would keep only the last")
        out[k] = v
    return out


def read(path: str | Path) -> object:
    """A table file's data: JSON (.json) or YAML, read within the mig-parted reader's limits."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise CapacityError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_BYTES:
        raise CapacityError(f"{path}: larger than {MAX_BYTES // 1024} KiB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise CapacityError(f"{path}: line {line}: byte 0x{raw[exc.start]:02x} is not "
                            "UTF-8; a capacity table is UTF-8 text") from None
    if path.suffix != ".json":
        try:
            return migparted_read.parse_yaml(text, str(path))
        except migparted_read.MigPartedError as exc:
            raise CapacityError(str(exc)) from None
    try:
        return json.loads(text, object_pairs_hook=no_repeats)
    except CapacityError as exc:
        raise CapacityError(f"{path}: {exc}") from None
    except RecursionError:
        raise CapacityError(f"{path}: not JSON migfleet can read: it nests too deeply") from None
    except ValueError as exc:
        raise CapacityError(f"{path}: not JSON: {cut(str(exc), 300)}") from None


def load(paths: Sequence[str | Path] = ()) -> Capacity:
    """The tables given, merged in order; the shipped ones (lab, real H100) when none is given."""
    files = list(paths) or [TABLES / name for name in SHIPPED]
    cap = Capacity()
    for path in files:
        parse(read(path), str(path), cap)
    return cap
