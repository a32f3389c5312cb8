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

from migfleet.advise import size_args
from migfleet.advise.demand import DemandError, window_seconds
from migfleet.inventory import inventory_folder
from migfleet.inventory.errors import cut, shown

# Each numeric flag's range: (lowest, highest, lowest allowed itself, unit and why).
RANGES = {"--headroom": (1.0, 100.0, True, ""), "--keep-headroom": (0.0, 100.0, False, ""),
          "--time-limit": (0.0, 86400.0, False, " seconds (a day)"), "--timeout": (0.0, 600.0, False, " seconds")}


def _workers(text: str) -> int:
    if not text.strip().isdigit() or not 1 <= int(text) <= 1024:
        raise argparse.ArgumentTypeError(f"wants a whole number of processes, 1 to 1024, not {text!r}")
    return int(text)


def _ranged(flag: str):
    low, high, closed, unit = RANGES[flag]

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"wants a number, not {shown(text)}") from None
        if not (low <= value if closed else low < value) or not value <= high:      # NaN fails both
            span = f"from {low:g} to {high:g}" if closed else f"above {low:g} and at most {high:g}"
            raise argparse.ArgumentTypeError(f"wants a number {span}{unit}, not {shown(text)}")
        return value
    return parse


def _p99(text: str) -> tuple[str, float]:
    """--p99-ms MODEL=MS: the model's p99 target, over its capacity table's (version 2 picks its rate by it)."""
    model, _, ms = text.rpartition("=")
    try:
        value = float(ms)
    except ValueError:
        value = -1.0
    if not model or not 0 < value <= 3_600_000:
        raise argparse.ArgumentTypeError(f"wants MODEL=MS, MS milliseconds above 0 and at most an hour, not {shown(text)}")
    return model, value


def _window(text: str) -> str:
    try:
        window_seconds(text)
    except DemandError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--window ")) from None
    return text


def _args(argv):
    ap = argparse.ArgumentParser(prog="migfleet advise", description=__doc__.split("\n\n")[1].replace("\n", " "))
    ap.add_argument("inventory", nargs="?", help="pyinfra inventory file (optional with --size)")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--prometheus", metavar="URL", help="Prometheus to ask, e.g. http://10.250.0.1:9090")
    src.add_argument("--demand-file", metavar="FILE", help="a file of Prometheus's answers (what --save-demand writes)")
    ap.add_argument("--window", default="1h", type=_window,
                    help="how far back demand is measured (Prometheus duration, e.g. 30m, 1h, 1d; default 1h)")
    ap.add_argument("--capacity", action="append", default=[], metavar="FILE",
                    help="capacity table (JSON/YAML, docs/ADVISE.md); repeatable, later wins; "
                         "default: the shipped lab and H100 tables")
    ap.add_argument("--p99-ms", action="append", default=[], type=_p99, metavar="MODEL=MS",
                    help="a model's p99 target: each profile's rate is its best measured point within it (repeatable)")
    ap.add_argument("--headroom", type=_ranged("--headroom"), default=1.3,
                    help="a proposal serves demand x this (1..100, default 1.3)")
    ap.add_argument("--keep-headroom", type=_ranged("--keep-headroom"), default=1.0,
                    help="today's layout stays while it serves demand x this (above 0, at most --headroom; default "
                         "1.0: demand within the headroom of the last proposal changes nothing)")
    ap.add_argument("--time-limit", type=_ranged("--time-limit"), default=60.0,
                    help="seconds the solver may take per host and level before it keeps the best found "
                         "(said in the output; above 0, at most 86400; default 60)")
    ap.add_argument("--workers", type=_workers, metavar="N", default=None,
                    help="processes solving hosts at once (1 to 1024; default: one per core)")
    ap.add_argument("--timeout", type=_ranged("--timeout"), default=10.0,
                    help="seconds per Prometheus query (above 0, at most 600; default 10)")
    ap.add_argument("--save-demand", metavar="FILE", help="also write Prometheus's answers here (for --demand-file)")
    ap.add_argument("--write", nargs="?", const="", metavar="FILE",
                    help="rewrite mig_layout in this group_data module (default: group_data/<inventory name>.py "
                         "next to the inventory; a group name: that module of the inventory's group_data)")
    ap.add_argument("--json", action="store_true", help="print the result as one JSON document (warnings on stderr)")
    size_args.add_arguments(ap, src)
    args = ap.parse_args(argv)
    size_args.usage(ap, args)
    if args.keep_headroom > args.headroom:
        ap.error(f"argument --keep-headroom: wants at most --headroom ({args.headroom:g}), not {args.keep_headroom:g}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    if args.size is not None:
        try:
            from migfleet.advise import size_run
        except ImportError as exc:      # scipy: the optional extra
            print(f"migfleet advise: needs {exc.name or 'scipy'}: pip install 'migfleet[advise]' (scipy)", file=sys.stderr)
            return 1
        return size_run.main(args)
    try:
        from migfleet.advise import report
    except ImportError as exc:      # scipy: the optional extra
        print(f"migfleet advise: needs {exc.name or 'scipy'}: pip install 'migfleet[advise]' (scipy)", file=sys.stderr)
        return 1
    from migfleet.cli.validate import checked
    hosts, _ = checked(args.inventory)      # every check of `validate`; its report on stderr
    if hosts is None:
        print(f"migfleet advise: {args.inventory} has errors (above): nothing solved", file=sys.stderr)
        return 1
    try:
        origin = args.demand_file or args.prometheus
        answers = (report.demand.read_answers(args.demand_file) if args.demand_file
                   else report.demand.fetch_answers(args.prometheus, args.window, args.timeout))
        measured = report.demand.parse(answers, args.window, origin)
        if args.save_demand:
            Path(args.save_demand).write_text(json.dumps(answers, indent=1) + "\n", encoding="utf-8")
        capacity = report.capacity.load(args.capacity)
        capacity.retarget(dict(args.p99_ms))
        result = report.advise(hosts, measured, capacity, args.headroom, args.keep_headroom, args.time_limit,
                               inventory_folder(args.inventory), origin, args.workers)
    except report.ADVISE_ERRORS as e:
        print(f"migfleet advise: {cut(str(e), 600)}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"migfleet advise: {cut(str(e), 300)}", file=sys.stderr)
        return 1
    for note in result.notes:
        print(f"warning: {cut(note, 600)}", file=sys.stderr)
    for reason in result.failed.values():
        print(f"migfleet advise: {cut(reason, 600)}", file=sys.stderr)
    sys.stdout.write(json.dumps(report.as_json(result), indent=1) + "\n" if args.json else report.text(result))
    if result.failed:       # a proposal without those hosts' GPUs is not written
        if args.write is not None:
            print(f"migfleet advise: nothing written: {len(result.failed)} host(s) not solved", file=sys.stderr)
        return 1
    if args.write is not None and not any(r.changes for r in result.results):
        print("advise: nothing to write: every layout stays", file=sys.stderr)
    elif args.write is not None:
        from migfleet.advise.write import target     # next to the inventory, whatever the working folder
        source = f"{args.prometheus or args.demand_file}, window {args.window}, headroom x{args.headroom}"
        try:
            path = target(args.inventory, args.write)
            report.write_proposal(result, path, source)
        except (report.WriteError, OSError) as e:      # the message names the file
            print(f"migfleet advise: {cut(str(e), 600)}", file=sys.stderr)
            return 1
        print(f"advise: mig_layout written to {path}; check it with `migfleet validate`, apply it with "
              "`migfleet rollout`", file=sys.stderr)
    return 0
