"""`migfleet advise INVENTORY (--prometheus URL | --demand-file FILE) [--window 1h] [--capacity FILE]
[--headroom 1.3] [--keep-headroom 1.0] [--time-limit 60] [--write [FILE]]`

Proposes, per host and GPU, a MIG layout and the models of each instance, sized to the demand
measured over the window. Prints today's layout and the proposal with the demand and capacity
behind each change; `--write` rewrites mig_layout as group data. Nothing is ever applied: run
`migfleet rollout` for that. Exit 0: printed (or written); 1: inputs that cannot be used (one line
each, no traceback); 2: usage.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from migfleet.inventory import InventoryLoadError, format_errors, load_inventory_data
from migfleet.inventory.errors import cut


def _args(argv):
    ap = argparse.ArgumentParser(prog="migfleet advise", description=__doc__.split("\n\n")[1].replace("\n", " "))
    ap.add_argument("inventory", help="pyinfra inventory file")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--prometheus", metavar="URL", help="Prometheus to ask, e.g. http://10.250.0.1:9090")
    src.add_argument("--demand-file", metavar="FILE", help="a file of Prometheus's answers (what --save-demand writes)")
    ap.add_argument("--window", default="1h", help="how far back demand is measured (Prometheus duration; default 1h)")
    ap.add_argument("--capacity", action="append", default=[], metavar="FILE",
                    help="capacity table (JSON/YAML, docs/ADVISE.md); repeatable, later wins; "
                         "default: the shipped lab and H100 tables")
    ap.add_argument("--headroom", type=float, default=1.3, help="a proposal serves demand x this (default 1.3)")
    ap.add_argument("--keep-headroom", type=float, default=1.0,
                    help="today's layout stays while it serves demand x this (default 1.0: demand within "
                         "the headroom of the last proposal changes nothing)")
    ap.add_argument("--time-limit", type=float, default=60.0,
                    help="seconds the solver may take per host and level before it keeps the best found "
                         "(said in the output; default 60)")
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds per Prometheus query (default 10)")
    ap.add_argument("--save-demand", metavar="FILE", help="also write Prometheus's answers here (for --demand-file)")
    ap.add_argument("--write", nargs="?", const="", metavar="FILE",
                    help="rewrite mig_layout in this group_data module (default: group_data/<inventory name>.py)")
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    args = ap.parse_args(argv)
    if not 1.0 <= args.headroom <= 100 or not 0 < args.keep_headroom <= args.headroom:
        ap.error("--headroom must be 1..100 and --keep-headroom above 0 and at most --headroom")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    try:
        from migfleet.advise import report
    except ImportError as exc:      # scipy: the optional extra
        print(f"migfleet advise: needs {exc.name or 'scipy'}: pip install 'migfleet[advise]' (scipy)", file=sys.stderr)
        return 1
    try:
        hosts = load_inventory_data(args.inventory)
    except InventoryLoadError as e:
        print(f"migfleet advise: cannot load {args.inventory}:\n{format_errors(e.problems)}", file=sys.stderr)
        return 1
    try:
        answers = (report.demand.read_answers(args.demand_file) if args.demand_file
                   else report.demand.fetch_answers(args.prometheus, args.window, args.timeout))
        measured = report.demand.parse(answers, args.window, args.demand_file or args.prometheus)
        if args.save_demand:
            Path(args.save_demand).write_text(json.dumps(answers, indent=1) + "\n", encoding="utf-8")
        capacity = report.capacity.load(args.capacity)
        result = report.advise(hosts, measured, capacity, args.headroom, args.keep_headroom, args.time_limit)
    except report.ADVISE_ERRORS as e:
        print(f"migfleet advise: {cut(str(e), 600)}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"migfleet advise: {cut(str(e), 300)}", file=sys.stderr)
        return 1
    sys.stdout.write(json.dumps(report.as_json(result), indent=1) + "\n" if args.json else report.text(result))
    if args.write is not None and not any(r.changes for r in result.results):
        print("advise: nothing to write: every layout stays", file=sys.stderr)
    elif args.write is not None:
        path = Path(args.write) if args.write else Path("group_data") / f"{Path(args.inventory).stem}.py"
        source = f"{args.prometheus or args.demand_file}, window {args.window}, headroom x{args.headroom}"
        try:
            report.write_proposal(result, path, source)
        except (report.WriteError, OSError) as e:
            print(f"migfleet advise: {path}: {cut(str(e), 400)}", file=sys.stderr)
            return 1
        print(f"advise: mig_layout written to {path}; check it with `migfleet validate`, apply it with "
              "`migfleet rollout`", file=sys.stderr)
    return 0
