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

Several tables merge: a later one's rate for the same GPU model, profile and model wins.
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from migfleet.inventory.errors import cut, shown
from migfleet.mig import catalog
from migfleet.mig.catalog import norm_model

TABLES = Path(__file__).with_name("tables")
SHIPPED = ("lab.json", "h100.json")
MAX_BYTES = 1 << 20


class CapacityError(ValueError):
    """A capacity table that cannot be used; the message names file, field and reason."""


@dataclass(frozen=True)
class ProfileCapacity:
    memory_mib: int
    rps: Mapping[str, float]        # model -> requests/s one instance serves at the p99 target


@dataclass
class Capacity:
    gpus: dict[str, dict[str, ProfileCapacity]] = field(default_factory=dict)   # GPU model -> profile name -> ...
    model_memory: dict[str, float] = field(default_factory=dict)                # model -> MiB
    p99_ms: dict[str, float] = field(default_factory=dict)                      # source file -> target
    sources: list[str] = field(default_factory=list)

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


def _number(value, where: str, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value < 0 \
            or value in (float("inf"),) or (positive and value == 0):
        raise CapacityError(f"{where}: wants a number {'> 0' if positive else '>= 0'}, not {shown(value)}")
    return float(value)


def _catalog_model(name: str, where: str) -> str:
    for model in catalog.all_models():
        if norm_model(model) == norm_model(str(name)):
            return model
    raise CapacityError(f"{where}: {shown(name)} is not a GPU model migfleet knows "
                        f"({', '.join(catalog.all_models())})")


def parse(data, source: str, into: Capacity | None = None) -> Capacity:
    """A parsed table, merged into `into` (a new Capacity when None)."""
    cap = into if into is not None else Capacity()
    if not isinstance(data, Mapping) or data.get("version") != 1 or not isinstance(data.get("gpus"), Mapping):
        raise CapacityError(f"{source}: not a capacity table (wants `version: 1` and a `gpus` mapping)")
    extra = sorted(set(data) - {"version", "p99_ms", "source", "models", "gpus"})
    if extra:
        raise CapacityError(f"{source}: unknown key(s) {cut(', '.join(map(str, extra)), 200)}")
    if "p99_ms" in data:
        cap.p99_ms[source] = _number(data["p99_ms"], f"{source}: p99_ms", positive=True)
    for model, entry in (data.get("models") or {}).items():
        where = f"{source}: models.{cut(str(model), 80)}"
        if not isinstance(entry, Mapping) or set(entry) - {"memory_mib"}:
            raise CapacityError(f"{where}: wants {{memory_mib: N}}, not {shown(entry)}")
        if "memory_mib" in entry:
            cap.model_memory[str(model)] = _number(entry["memory_mib"], f"{where}.memory_mib")
    for gpu_name, profiles in data["gpus"].items():
        gpu = _catalog_model(gpu_name, f"{source}: gpus")
        geometry = catalog.lookup(gpu)
        if not isinstance(profiles, Mapping):
            raise CapacityError(f"{source}: gpus.{gpu}: wants a mapping of profile -> {{rps, memory_mib}}")
        table = cap.gpus.setdefault(gpu, {})
        for pname, entry in profiles.items():
            where = f"{source}: gpus.{gpu}.{cut(str(pname), 40)}"
            try:
                profile = geometry.profile(str(pname))
            except KeyError:
                names = ", ".join(p.name for p in geometry.profiles)
                raise CapacityError(f"{where}: no such profile on {gpu}; its profiles are {names}") from None
            if not isinstance(entry, Mapping) or not isinstance(entry.get("rps"), Mapping) \
                    or set(entry) - {"rps", "memory_mib"}:
                raise CapacityError(f"{where}: wants {{rps: {{MODEL: requests/s}}, memory_mib: N}}, not {shown(entry)}")
            memory = int(_number(entry.get("memory_mib", profile.memory_mib), f"{where}.memory_mib", positive=True))
            old = table.get(profile.name)
            rps = dict(old.rps) if old else {}
            rps.update({str(m): _number(v, f"{where}.rps.{cut(str(m), 80)}") for m, v in entry["rps"].items()})
            table[profile.name] = ProfileCapacity(memory, rps)
    cap.sources.append(source + (f": {cut(str(data['source']), 300)}" if data.get("source") else ""))
    return cap


def read(path: str | Path) -> object:
    path = Path(path)
    try:
        raw = path.read_bytes()[:MAX_BYTES + 1]
    except OSError as exc:
        raise CapacityError(f"{path}: cannot read: {exc.strerror}") from None
    if len(raw) > MAX_BYTES:
        raise CapacityError(f"{path}: larger than {MAX_BYTES // 1024} KiB")
    try:
        text = raw.decode("utf-8")
        return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (UnicodeDecodeError, ValueError, yaml.YAMLError) as exc:
        raise CapacityError(f"{path}: not {'JSON' if path.suffix == '.json' else 'YAML'}: "
                            f"{cut(str(exc), 300)}") from None


def load(paths: Sequence[str | Path] = ()) -> Capacity:
    """The tables given, merged in order; the shipped ones (lab, real H100) when none is given."""
    files = list(paths) or [TABLES / name for name in SHIPPED]
    cap = Capacity()
    for path in files:
        parse(read(path), str(path), cap)
    return cap
