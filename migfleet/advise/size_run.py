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
from migfleet.advise.size import SizeError, drop_untaken, options, size, whole_gpu
from migfleet.advise.size_hosts import check_new, plan, write
from migfleet.advise.size_report import SizeResult, as_json, text
from migfleet.advise.write import WriteError, target
from migfleet.fleet import ssh as fleet
from migfleet.inventory import paths
from migfleet.inventory.errors import cut
from migfleet.inventory.model_files import read_max_batch_size
from migfleet.mig import catalog
from migfleet.serving import settings as serving_settings

ERRORS = (demand.DemandError, capacity_mod.CapacityError, size_demand.RatesError, SizeError, WriteError,
          fleet.FleetError)


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


def own_batch(inventory: str) -> dict[str, int]:
    """model -> the smallest max_batch_size its config.pbtxt has in the model repositories of the
    inventory's hosts (a setting every one of them takes)."""
    out: dict[str, int] = {}
    folder = paths.inventory_folder(inventory)
    for host in fleet.load_inventory(inventory):
        if host.data.get("mig_only") is True:
            continue        # nothing is synced there
        root = paths.local_path(serving_settings.resolve(host.data)[paths.MODEL_REPOSITORY], folder)
        for m in (paths.models_in(root) if root.is_dir() else []):
            out[m] = min(out.get(m, 1 << 62), read_max_batch_size(root, m))
    return out


def solve(args) -> SizeResult:
    gpu = _gpu_model(args.size)
    geometry = catalog.lookup(gpu)
    rates, given = _inputs(args)
    cap = capacity_mod.load(args.capacity)
    if getattr(args, "inventory", None):
        drop_untaken(cap, own_batch(args.inventory))    # points whose settings validate would refuse
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
