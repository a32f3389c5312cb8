"""What a sized fleet must serve: requests/s and a p99 target per model.

From a rates file (`--rates FILE`, JSON or YAML, read within the capacity reader's limits):

    models:
      resnet50: {rate: 400, p99_ms: 20}     # requests/s over the whole fleet; p99_ms optional
      bert: {rate: 50}                      # no p99_ms: the capacity table's target for the model

or from advise's demand (Prometheus, or --demand-file): each model's rate summed over its hosts,
its target the table's. A model's target in the rates file wins over the table's.
"""
from __future__ import annotations

from collections.abc import Mapping

from migfleet.advise.capacity import read
from migfleet.advise.capacity_values import MAX_P99_MS, MAX_RPS, CapacityError, key, model_name_problem, number
from migfleet.inventory.errors import cut, shown


class RatesError(ValueError):
    """A rates file that cannot be used; one line naming the file, the field and the reason."""


def parse(data, source: str) -> tuple[dict[str, float], dict[str, float]]:
    """(rate per model, p99 target per model that gives one) from a rates file's data."""
    if not isinstance(data, Mapping) or set(data) != {"models"} or not isinstance(data["models"], Mapping):
        raise RatesError(f"{source}: wants `models: {{MODEL: {{rate: requests/s, p99_ms: MS}}}}`, not "
                         f"{cut(shown(data), 200)}")
    if not data["models"]:
        raise RatesError(f"{source}: $.models: names no model")
    rates: dict[str, float] = {}
    targets: dict[str, float] = {}
    for model, entry in data["models"].items():
        problem = model_name_problem(model)
        if problem:
            raise RatesError(f"{source}: $.models: {problem}")
        where = f"{source}: $.models.{key(model)}"
        if not isinstance(entry, Mapping) or "rate" not in entry or set(entry) - {"rate", "p99_ms"}:
            raise RatesError(f"{where}: wants {{rate: requests/s, p99_ms: MS}} (p99_ms optional), not "
                             f"{cut(shown(entry), 200)}")
        try:
            rates[model] = number(entry["rate"], f"{where}.rate", MAX_RPS, " requests/s")
            if "p99_ms" in entry:
                targets[model] = number(entry["p99_ms"], f"{where}.p99_ms", MAX_P99_MS, " ms", positive=True)
        except CapacityError as exc:
            raise RatesError(str(exc)) from None
    return rates, targets


def load(path: str) -> tuple[dict[str, float], dict[str, float]]:
    try:
        return parse(read(path), str(path))
    except CapacityError as exc:        # the reader's limits: size, UTF-8, syntax
        raise RatesError(str(exc)) from None


def from_demand(measured) -> dict[str, float]:
    """advise's measured demand (per host and model) as one rate per model, over the fleet."""
    out: dict[str, float] = {}
    for (_, model), d in sorted(measured.models.items()):
        out[model] = out.get(model, 0.0) + d.rps
    return out
