"""`migfleet measure INVENTORY --host H [--gpu N] [--models M ...] [--profiles P ...] [--dry] [--out TABLE]`

Measures one GPU of a canary host, profile by profile, into a version-2 capacity table (docs/MEASURE.md):
the host leaves its load balancer and the GPU's Tritons drain; each profile is laid out alone and
served by one Triton; each model is loaded alone under each Triton setting and measured with
perf_analyzer at rising concurrency; the host gets its inventory layout back and rejoins. Points go
to TABLE.points.jsonl as they are measured: a re-run resumes. Exit 0: done; 1: a step failed (one
line, the host restored); 2: usage.
"""
from __future__ import annotations

import argparse
import shlex
import sys

from migfleet.facts.noop_digest import LIB_DIR     # where the deploy puts its host code
from migfleet.fleet import ssh as fleet
from migfleet.inventory import paths
from migfleet.inventory.model_files import read_max_batch_size
from migfleet.measure import grid as grids
from migfleet.measure.grid import LADDER
from migfleet.measure.results import Results, ResultsError, points_path, write_table
from migfleet.measure.run import Measure, MeasureFailed, Remote, Target
from migfleet.mig import catalog
from migfleet.mig import smi
from migfleet.serving import settings as serving_settings



class Usage(ValueError):
    pass


def _ints(text: str, what: str, low: int) -> list[int]:
    try:
        out = sorted({int(v) for v in text.split(",") if v.strip()})
    except ValueError:
        raise Usage(f"{what}: wants whole numbers separated by commas, not {text!r}") from None
    if not out or out[0] < low:
        raise Usage(f"{what}: wants whole numbers of at least {low}, not {text!r}")
    return out


def targets(values: list[str], models: list[str]) -> dict[str, float | None]:
    """--p99-ms MS (every model) or MODEL=MS, repeatable; 50 ms where none is given."""
    out: dict[str, float | None] = {m: 50.0 for m in models}
    for v in values or []:
        model, _, ms = v.rpartition("=")
        try:
            number = float(ms)
        except ValueError:
            number = -1.0
        if not 0 < number <= 3_600_000:
            raise Usage(f"--p99-ms: wants MS or MODEL=MS with MS a number of milliseconds above 0, not {v!r}")
        if model and model not in models:
            raise Usage(f"--p99-ms: {model!r} is not a model measured here ({', '.join(models)})")
        out.update({model: number} if model else {m: number for m in models})
    return out


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="migfleet measure", description=__doc__.split("\n\n")[1])
    ap.add_argument("inventory")
    ap.add_argument("--host", required=True, help="the canary host (inventory name)")
    ap.add_argument("--gpu", type=int, default=0, help="its GPU index (default 0)")
    ap.add_argument("--models", nargs="+", help="default: every model of the model repository")
    ap.add_argument("--profiles", nargs="+", help="default: every profile of the GPU model (no +me)")
    ap.add_argument("--batch", default="0,8", help="max batch sizes, 0 = no batching (default 0,8)")
    ap.add_argument("--instances", default="1,2", help="instance-group counts (default 1,2)")
    ap.add_argument("--concurrency", default=",".join(map(str, LADDER)), help="the ladder")
    ap.add_argument("--window-ms", type=int, default=5000, help="perf_analyzer's window (three a point)")
    ap.add_argument("--p99-ms", action="append", metavar="[MODEL=]MS", help="p99 target (default 50)")
    ap.add_argument("--out", default="capacity.json", help="the table (JSON, or YAML for .yaml)")
    ap.add_argument("--plot", metavar="DIR", help="also draw the table's plots into DIR")
    ap.add_argument("--dry", action="store_true", help="print the grid and the time it takes; contact nothing")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        host = fleet.select(fleet.load_inventory(args.inventory), [args.host])[0]
        settings = serving_settings.resolve(host.data)
        models_known = host.data.get("gpu_models") or []
        if not 0 <= args.gpu < len(models_known):
            raise Usage(f"{host.name}: --gpu {args.gpu}: its gpu_models list {len(models_known)} GPU(s)")
        geometry = catalog.lookup(models_known[args.gpu])
        if geometry is None:
            raise Usage(f"{host.name}: GPU {args.gpu} ({models_known[args.gpu]}) has no MIG geometry migfleet knows")
        names = [p.name for p in geometry.profiles if "+" not in p.name]
        profiles = args.profiles or names
        wrong = [p for p in profiles if p not in {q.name for q in geometry.profiles}]
        if wrong:
            raise Usage(f"--profiles: {', '.join(wrong)} not profile(s) of {geometry.model} ({', '.join(names)})")
        repository = paths.local_path(settings["triton_model_repository"], paths.inventory_folder(args.inventory))
        known = paths.models_in(repository)
        models = args.models or known
        wrong = [m for m in models if m not in known]
        if wrong:
            raise Usage(f"--models: {', '.join(wrong)} not in the model repository {repository} ({', '.join(known)})")
        if args.window_ms < 100:
            raise Usage("--window-ms: at least 100")
        grid = grids.make(profiles, models, _ints(args.batch, "--batch", 0), _ints(args.instances, "--instances", 1),
                          _ints(args.concurrency, "--concurrency", 1), args.window_ms, targets(args.p99_ms, models),
                          {m: read_max_batch_size(repository, m) for m in models})
    except (Usage, fleet.FleetError, KeyError) as e:
        print(f"measure: {e}", file=sys.stderr)
        return 2
    if args.dry:
        print(grids.describe(grid, geometry.model, host.name))
        return 0
    command = "migfleet measure " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    try:
        results = Results(points_path(args.out))
        with fleet.session(fleet.target_of(host)) as run:
            target = _target(host.name, args.gpu, geometry, settings, run)
            remote = Remote(target, run)
            if not remote.has_host_code():
                raise MeasureFailed(f"{host.name}: no migfleet measure code in {LIB_DIR}: deploy this migfleet to it first")
            Measure(remote, grid, results, command, say=lambda m: print(m, file=sys.stderr, flush=True),
                    on_setting=lambda: write_table(args.out, results)).run()
        write_table(args.out, results)
    except (MeasureFailed, fleet.FleetError, ResultsError, OSError) as e:
        print(f"measure: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"measure: interrupted; {host.name} restored; the points measured are in {points_path(args.out)}",
              file=sys.stderr)
        return 1
    print(f"measure: {len(results.points)} point(s) in {points_path(args.out)}; table {args.out}")
    if args.plot:
        from migfleet.measure import plot
        for path in plot.draw(args.out, args.plot):
            print(f"measure: plot {path}")
    return 0


def _target(name: str, index: int, geometry, settings, run) -> Target:
    rc, out, err = run(smi.SNAPSHOT_COMMAND, 60)
    try:
        gpus = smi.parse_snapshot(out)
    except smi.ParseError as e:
        raise MeasureFailed(f"{name}: {e}") from None
    gpu = next((g for g in gpus.values() if g.index == index), None)
    if gpu is None:
        raise MeasureFailed(f"{name}: nvidia-smi lists no GPU {index}")
    if catalog.norm_model(gpu.name) != catalog.norm_model(geometry.model):
        raise MeasureFailed(f"{name}: GPU {index} is a {gpu.name}, its gpu_models say {geometry.model}")
    return Target(name, index, gpu.uuid, geometry.model, geometry, settings, LIB_DIR)
