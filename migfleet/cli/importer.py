"""`migfleet import mig-parted FILE --config NAME [--gpu-model MODEL ...] [-o FILE]`

Writes `mig_layout` from one named config of an NVIDIA mig-parted file: to stdout as a group_data
module, or with -o into a module, where it replaces only the module's `mig_layout` assignment (or
adds one, or creates the module and its folder) and keeps every other byte. Exit 0: written; 1: the
config cannot be taken over, or the module cannot be edited exactly (the message names the file and
why; it is left as it was); 2: usage or unreadable file.
"""
from __future__ import annotations

import argparse
import sys

from migfleet.fleet import migparted, migparted_read
from migfleet.inventory import module_edit


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
    ap.add_argument("-o", "--output", metavar="FILE",
                    help="set mig_layout in this module (created if missing; everything else in it is kept) "
                         "instead of printing a module")
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
    if args.output:
        # Only the module's mig_layout is migfleet's: gpu_models and every other line stay as they are.
        try:
            done = module_edit.set_assignment(
                args.output, "mig_layout", imported.rules, migparted.layout_source(imported),
                migparted.notes(imported, args.file, args.config), migparted.module_doc(args.file, args.config))
        except module_edit.ModuleEditError as exc:
            print(f"import: {exc}; nothing was written", file=sys.stderr)
            return 1
        what = {"created": "written to new module", "added": "added to", "replaced": "replacing mig_layout in"}[done]
        print(f"import: {len(imported.rules)} rule(s) {what} {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(migparted.render_group_data(imported, args.file, args.config))
    for note in imported.notes:
        print(f"import: left out {note}", file=sys.stderr)
    for warning in imported.warnings:
        print(f"import: warning: {warning}", file=sys.stderr)
    return 0
