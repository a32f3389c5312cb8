"""Capacity table version 2: the points `migfleet measure` measured, per GPU model, profile and model.

    version: 2
    source: {command: migfleet measure ..., host: h1, gpu: NVIDIA H100 80GB HBM3, driver: 550.90.07,
             triton: 2.51.0, date: 2026-12-07T19:00:00Z}       # or a list of them (tables merged)
    p99_ms: 50                                   # optional: the target of models that give none
    models:
      resnet50: {memory_mib: 1400, p99_ms: 20}   # both optional
    gpus:
      NVIDIA H100 80GB HBM3:
        3g.40gb:
          memory_mib: 40448                      # optional: the catalog's if left out
          points:
            resnet50:
              - {max_batch_size: 8, instance_count: 2, concurrency: 4, rate: 310.5,
                 p50_ms: 11.2, p95_ms: 14.0, p99_ms: 16.1, memory_mib: 1390}

Each profile's rate for a model is its best point within the model's p99 target (`points.best`).
Checked like version 1: every number within what it stands for, every error naming file and path.
"""
from __future__ import annotations

from collections.abc import Mapping

from migfleet.advise import capacity_values as c
from migfleet.advise.points import FIELDS, Point
from migfleet.inventory.errors import cut, shown
from migfleet.mig import catalog

SOURCE_KEYS = ("command", "host", "gpu", "driver", "triton", "date")
MAX_BATCH = 1 << 16
MAX_INSTANCES = 64
MAX_CONCURRENCY = 1 << 16


def _int(value, where: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise c.CapacityError(f"{where}: wants a whole number from {low} to {high}, not {shown(value)}")
    return value


def _source(value, where: str) -> str:
    """The source(s) as one line: `key=value` pairs of each, `; ` between them."""
    items = value if isinstance(value, list) else [value]
    lines = []
    for i, item in enumerate(items):
        here = f"{where}[{i}]" if isinstance(value, list) else where
        if isinstance(item, str):
            lines.append(item)
            continue
        if not isinstance(item, Mapping) or set(map(str, item)) - set(SOURCE_KEYS):
            raise c.CapacityError(f"{here}: wants a mapping of {', '.join(SOURCE_KEYS)}, not {cut(shown(item), 200)}")
        lines.append(" ".join(f"{k}={item[k]}" for k in SOURCE_KEYS if k in item))
    return "; ".join(lines)


def point(value, where: str, profile_mib: float) -> Point:
    if not isinstance(value, Mapping):
        raise c.CapacityError(f"{where}: wants a mapping of {', '.join(FIELDS)}, not {cut(shown(value), 200)}")
    missing = [f for f in FIELDS if f not in value]
    extra = sorted(map(str, set(value) - set(FIELDS)))
    if missing or extra:
        why = (f"lacks {', '.join(missing)}" if missing else "") + ("; " if missing and extra else "") + \
              (f"unknown key(s) {cut(', '.join(extra), 200)}" if extra else "")
        raise c.CapacityError(f"{where}: {why}")
    ms = {q: c.number(value[q], f"{where}.{q}", c.MAX_P99_MS, " ms") for q in ("p50_ms", "p95_ms", "p99_ms")}
    return Point(max_batch_size=_int(value["max_batch_size"], f"{where}.max_batch_size", 0, MAX_BATCH),
                 instance_count=_int(value["instance_count"], f"{where}.instance_count", 1, MAX_INSTANCES),
                 concurrency=_int(value["concurrency"], f"{where}.concurrency", 1, MAX_CONCURRENCY),
                 rate=c.number(value["rate"], f"{where}.rate", c.MAX_RPS, " requests/s"),
                 memory_mib=c.number(value["memory_mib"], f"{where}.memory_mib", profile_mib,
                                     " MiB (the memory of the instance)"), **ms)


def parse(data: Mapping, source: str, cap: c.Capacity) -> c.Capacity:
    extra = sorted(map(str, set(data) - {"version", "p99_ms", "source", "models", "gpus"}))
    if extra:
        raise c.CapacityError(f"{source}: unknown key(s) {cut(', '.join(extra), 200)}")
    default = None
    if "p99_ms" in data:
        default = cap.p99_ms[source] = c.number(data["p99_ms"], f"{source}: $.p99_ms", c.MAX_P99_MS, " ms",
                                                positive=True)
    models = data.get("models")
    for model, entry in c.mapping({} if models is None else models, f"{source}: $.models",
                                  "model -> {memory_mib, p99_ms}").items():
        where = f"{source}: $.models.{c.key(model)}"
        c.model_name(model, f"{source}: $.models")
        if not isinstance(entry, Mapping) or set(entry) - {"memory_mib", "p99_ms"}:
            raise c.CapacityError(f"{where}: wants {{memory_mib: N, p99_ms: MS}}, not {shown(entry)}")
        if "memory_mib" in entry:
            cap.model_memory[model] = c.number(entry["memory_mib"], f"{where}.memory_mib", c.max_mib(),
                                               " MiB (the most memory of any GPU migfleet knows)")
        if "p99_ms" in entry:
            cap.model_p99[model] = c.number(entry["p99_ms"], f"{where}.p99_ms", c.MAX_P99_MS, " ms", positive=True)
    seen_gpus: dict[str, str] = {}
    for gpu_name, profiles in c.mapping(data["gpus"], f"{source}: $.gpus", "GPU model -> profiles").items():
        gpu = c.catalog_model(gpu_name, f"{source}: $.gpus")
        if gpu in seen_gpus:
            raise c.CapacityError(f"{source}: $.gpus: {shown(gpu_name)} and {shown(seen_gpus[gpu])} name the same "
                                  f"GPU model ({gpu}); give its profiles once")
        seen_gpus[gpu] = gpu_name
        geometry = catalog.lookup(gpu)
        here = f"{source}: $.gpus.{c.key(gpu_name)}"
        seen: dict[str, str] = {}
        for pname, entry in c.mapping(profiles, here, "profile -> {points, memory_mib}").items():
            where = f"{here}.{c.key(pname)}"
            profile = c.catalog_profile(geometry, gpu, pname, where)
            if profile.name in seen:
                raise c.CapacityError(f"{where}: the same profile as {c.key(seen[profile.name])}; give it once")
            seen[profile.name] = str(pname)
            if not isinstance(entry, Mapping) or not isinstance(entry.get("points"), Mapping) \
                    or set(entry) - {"points", "memory_mib"}:
                raise c.CapacityError(f"{where}: wants {{points: {{MODEL: [point, ...]}}, memory_mib: N}}, "
                                      f"not {cut(shown(entry), 200)}")
            memory = int(c.number(entry.get("memory_mib", profile.memory_mib), f"{where}.memory_mib",
                                  profile.memory_mib, f" MiB (the memory of a {profile.name} of {gpu})", positive=True))
            found = {}
            for m, listed in entry["points"].items():
                c.model_name(m, f"{where}.points")
                at = f"{where}.points.{c.key(m)}"
                if not isinstance(listed, list) or not listed:
                    raise c.CapacityError(f"{at}: wants a list of points, not {cut(shown(listed), 200)}")
                found[m] = tuple(point(p, f"{at}[{i}]", memory) for i, p in enumerate(listed))
                if default is not None:
                    cap.model_p99.setdefault(m, default)
            cap.put(gpu, profile.name, memory, found)
    if "source" in data:
        cap.sources.append(f"{source}: {cut(_source(data['source'], f'{source}: $.source'), 600)}")
    else:
        cap.sources.append(source)
    return cap
