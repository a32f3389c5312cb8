"""`migfleet advise [INVENTORY] --size GPU_MODEL (--rates FILE | --demand-file FILE | --prometheus URL)
[--capacity FILE] [--headroom 1.3] [--time-limit 60] [--write FILE [--gpus-per-host 8] [--write-settings]] [--json]`

The fewest GPUs of GPU_MODEL serving each model's rate within its p99 target, laid out per GPU
with each instance's Triton settings (migfleet.advise.size), beside whole-GPU serving and the lower
bound; `--write` makes the group data module of identical new hosts (migfleet.advise.size_hosts).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from migfleet.advise import capacity as capacity_mod
from migfleet.advise import demand, size_demand
from migfleet.advise.size import SizeError, options, size, whole_gpu
from migfleet.advise.size_hosts import check_new, plan, write
from migfleet.advise.size_report import SizeResult, as_json, text
from migfleet.advise.write import WriteError, target
from migfleet.inventory.errors import cut
from migfleet.mig import catalog

ERRORS = (demand.DemandError, capacity_mod.CapacityError, size_demand.RatesError, SizeError, WriteError)


def _gpu_model(name: str) -> str:
    for model in catalog.all_models():
        if catalog.norm_model(model) == catalog.norm_model(name):
            return model
    raise SizeError(f"--size {name!r}: not a GPU model migfleet knows ({', '.join(catalog.all_models())})")


def _inputs(args):
    if args.rates:
        return size_demand.load(args.rates)
    answers = (demand.read_answers(args.demand_file) if args.demand_file
               else demand.fetch_answers(args.prometheus, args.window, args.timeout))
    return size_demand.from_demand(demand.parse(answers, args.window, args.demand_file or args.prometheus)), {}


def solve(args) -> SizeResult:
    gpu = _gpu_model(args.size)
    geometry = catalog.lookup(gpu)
    rates, given = _inputs(args)
    cap = capacity_mod.load(args.capacity)
    flags = dict(getattr(args, "p99_ms", None) or ())      # --p99-ms MODEL=MS wins over the files
    targets = {m: flags.get(m, given.get(m, cap.model_p99.get(m))) for m in rates}
    needs = {m: r * args.headroom for m, r in rates.items()}
    sizing = size(cap, geometry, needs, targets, args.time_limit)
    full = next(p.name for p in geometry.profiles if p.slices == geometry.compute_slices)
    result = SizeResult(sizing, args.headroom, rates, None, full_profile=full, sources=tuple(cap.sources))
    try:
        result.whole_gpu = whole_gpu(sizing.needs, options(cap, geometry, sizing.needs, targets), geometry)
    except SizeError as exc:
        result.whole_why = str(exc)
    if args.write is not None:
        result.plan = plan(cap, geometry, sizing.needs, targets, args.gpus_per_host, len(sizing.gpus), args.time_limit)
    return result


def main(args) -> int:
    try:
        if args.write is not None:      # refused before anything is solved
            path = target(args.inventory, args.write) if args.inventory else Path(args.write)
            check_new(path)
        result = solve(args)
        if result.plan is not None:
            origin = args.rates or args.demand_file or args.prometheus
            write(path, result.plan, args.write_settings, f"{origin} x {args.headroom:g}")
    except ERRORS as exc:
        print(f"migfleet advise: {cut(str(exc), 600)}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"migfleet advise: {cut(str(exc), 300)}", file=sys.stderr)
        return 1
    sys.stdout.write(json.dumps(as_json(result), indent=1) + "\n" if args.json else text(result))
    if result.plan is not None:
        print(f"advise: group data for {result.plan.hosts} new host(s) written to {path}: put the hosts in its "
              "group, check it with `migfleet validate`, apply it with `migfleet rollout`", file=sys.stderr)
    return 0
