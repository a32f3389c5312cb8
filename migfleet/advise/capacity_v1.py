"""Version 1 of the capacity table: one rate per GPU model, profile and model, at the table's p99.

    version: 1
    p99_ms: 50
    source: how the numbers were measured
    models: {resnet50: {memory_mib: 1400}}
    gpus: {NVIDIA H100 80GB HBM3: {7g.80gb: {rps: {resnet50: 150.8}, memory_mib: 81152}}}

Each rate reads as one point (`migfleet.advise.points.Point`) at the table's p99, so both versions read alike.
"""
from __future__ import annotations

from collections.abc import Mapping

from migfleet.advise.capacity_values import (MAX_P99_MS, MAX_RPS, Capacity, CapacityError, catalog_model,
                                             catalog_profile, key, mapping, max_mib, model_name, number)
from migfleet.advise.points import Point
from migfleet.inventory.errors import cut, shown
from migfleet.mig import catalog


def parse(data: Mapping, source: str, cap: Capacity) -> Capacity:
    """A version-1 table's data (its version and `gpus` already seen), merged into `cap`."""
    extra = sorted(map(str, set(data) - {"version", "p99_ms", "source", "models", "gpus"}))
    if extra:
        raise CapacityError(f"{source}: unknown key(s) {cut(', '.join(extra), 200)}")
    if "p99_ms" in data:
        cap.p99_ms[source] = number(data["p99_ms"], f"{source}: $.p99_ms", MAX_P99_MS, " ms", positive=True)
    models = data.get("models")
    for model, entry in mapping({} if models is None else models, f"{source}: $.models",
                                "model -> {memory_mib: N}").items():
        where = f"{source}: $.models.{key(model)}"
        model_name(model, f"{source}: $.models")
        if not isinstance(entry, Mapping) or set(entry) - {"memory_mib"}:
            raise CapacityError(f"{where}: wants {{memory_mib: N}}, not {shown(entry)}")
        if "memory_mib" in entry:
            cap.model_memory[model] = number(entry["memory_mib"], f"{where}.memory_mib", max_mib(), " MiB "
                                             "(the most memory of any GPU migfleet knows)")
    seen_gpus: dict[str, str] = {}
    for gpu_name, profiles in mapping(data["gpus"], f"{source}: $.gpus", "GPU model -> profiles").items():
        gpu = catalog_model(gpu_name, f"{source}: $.gpus")
        if gpu in seen_gpus:
            raise CapacityError(f"{source}: $.gpus: {shown(gpu_name)} and {shown(seen_gpus[gpu])} name the same "
                                f"GPU model ({gpu}); give its profiles once")
        seen_gpus[gpu] = gpu_name
        geometry = catalog.lookup(gpu)
        here = f"{source}: $.gpus.{key(gpu_name)}"
        cap.gpus.setdefault(gpu, {})
        seen: dict[str, str] = {}
        for pname, entry in mapping(profiles, here, "profile -> {rps, memory_mib}").items():
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
                model_name(m, f"{where}.rps")
                rate = number(v, f"{where}.rps.{key(m)}", MAX_RPS, " requests/s")
                found[m] = (Point(0, 1, 0, rate, None, None, p99, cap.model_memory.get(m)),)
            cap.put(gpu, profile.name, memory, found)
    cap.sources.append(source + (f": {cut(str(data['source']), 300)}" if data.get("source") else ""))
    return cap
