"""`migfleet import mig-parted FILE --config NAME [--gpu-model MODEL ...] [-o FILE]`

Writes a group_data module defining `mig_layout` from one named config of an NVIDIA mig-parted
file. Exit 0: written; 1: the config cannot be taken over (the message names file and config);
2: usage or unreadable file.
"""
from __future__ import annotations

import argparse
import sys

from migfleet.cli import write_output
from migfleet.fleet import migparted, migparted_read


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="migfleet import",
        description="Turn another tool's MIG configuration into a group_data module defining mig_layout.",
        epilog="Example: migfleet import mig-parted config-default.yaml --config all-balanced "
               "--gpu-model 'NVIDIA A100-SXM4-40GB' -o group_data/a100_40.py")
    ap.add_argument("source", choices=["mig-parted"], help="the format of FILE")
    ap.add_argument("file", help="the mig-parted config file (version: v1, mig-configs)")
    ap.add_argument("--config", required=True, metavar="NAME", help="which named config of FILE to import")
    ap.add_argument("--gpu-model", action="append", default=[], metavar="MODEL",
                    help="a GPU model of the hosts the layout is for (product name as nvidia-smi prints it, "
                         "or PCI ID such as 0x20B010DE; repeatable): entries for other models are left out "
                         "and every rule must fit each model")
    ap.add_argument("-o", "--output", metavar="FILE", help="write the module here instead of stdout")
    args = ap.parse_args(argv)
    try:
        text = migparted_read.read(args.file)
    except OSError as exc:
        print(f"import: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    except migparted_read.MigPartedError as exc:
        print(f"import: {exc}", file=sys.stderr)
        return 1
    try:
        spec = migparted_read.load(text, args.file)
        imported = migparted.import_config(spec, args.config, args.file, args.gpu_model)
    except migparted_read.MigPartedError as exc:
        print(f"import: {exc}", file=sys.stderr)
        return 1
    module = migparted.render_group_data(imported, args.file, args.config)
    write_output(module, args.output)
    if args.output:
        print(f"import: {len(imported.rules)} rule(s) written to {args.output}", file=sys.stderr)
    for note in imported.notes:
        print(f"import: left out {note}", file=sys.stderr)
    for warning in imported.warnings:
        print(f"import: warning: {warning}", file=sys.stderr)
    return 0
