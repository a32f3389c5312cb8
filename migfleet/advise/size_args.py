"""advise's flags for sizing a fleet (`--size`, migfleet.advise.size_run), kept apart from the
solver so that advise's argument parsing needs no scipy."""
from __future__ import annotations

import argparse


def _per_host(text_: str) -> int:
    if not text_.strip().isdigit() or not 1 <= int(text_) <= 64:
        raise argparse.ArgumentTypeError(f"wants a whole number of GPUs, 1 to 64, not {text_!r}")
    return int(text_)


def add_arguments(ap: argparse.ArgumentParser, sources) -> None:
    """advise's flags for sizing; `sources`: its group of demand flags, which --rates joins."""
    ap.add_argument("--size", metavar="GPU_MODEL",
                    help="size a new fleet of this GPU model (nvidia-smi's product name) instead of advising the "
                         "inventory's; INVENTORY is then optional (it places --write's module, and points whose "
                         "settings a model of its model repository cannot take are left out)")
    sources.add_argument("--rates", metavar="FILE",
                         help="with --size: requests/s and p99 target per model (docs/ADVISE.md, Sizing a fleet)")
    ap.add_argument("--gpus-per-host", type=_per_host, default=8, metavar="N",
                    help="with --size --write: GPUs in each new host (1 to 64, default 8)")
    ap.add_argument("--write-settings", action="store_true",
                    help="with --size --write: list each instance's models with their Triton settings "
                         "({name, instance_count, max_batch_size}) instead of names only")


def usage(ap: argparse.ArgumentParser, args) -> None:
    """Flags that belong to one mode only, refused as usage errors."""
    if args.size is None:
        for flag, given in (("--rates", args.rates), ("--write-settings", args.write_settings)):
            if given:
                ap.error(f"argument {flag}: only with --size")
        if args.inventory is None:
            ap.error("the following arguments are required: inventory")
    elif args.write == "" and args.inventory is None:
        ap.error("argument --write: with --size and no INVENTORY, name the module to write (--write FILE)")
