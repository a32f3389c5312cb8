"""The capacity table: what one instance of each profile serves per model, and memory.

File format (JSON or YAML; docs/ADVISE.md):

    version: 1
    p99_ms: 50                    # the latency target the rates hold at
    source: how the numbers were measured
    models:                       # memory one loaded copy of a model takes (MiB); optional
      resnet50: {memory_mib: 1400}
    gpus:
      NVIDIA H100 80GB HBM3:      # product name as nvidia-smi prints it
        7g.80gb: {rps: {resnet50: 150.8}, memory_mib: 81152}   # memory_mib: the catalog's if left out

Version 2 (`migfleet measure`'s, migfleet.advise.capacity_v2; version 1 in capacity_v1) gives the measured points instead of a
rate: a profile's rate for a model is then its best point within the model's p99 target (the
table's per-model `p99_ms`, or `retarget`'s, from advise's `--p99-ms MODEL=MS`). A version-1 rate is
one point at the table's p99 (`points`), so both read alike.

Several tables merge: a later one's rate for the same GPU model, profile and model wins.
A table may come from anywhere: it is read within the mig-parted reader's limits (size, UTF-8,
nesting, aliases expanded, repeated keys), and every number is checked against what it stands for:
rates finite, >= 0 and at most MAX_RPS; a profile's memory at most the catalog's for that profile.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from migfleet.advise import capacity_v1, capacity_v2
from migfleet.advise.capacity_values import Capacity, CapacityError, json_data
from migfleet.fleet import migparted_read

TABLES = Path(__file__).with_name("tables")
SHIPPED = ("lab.json", "h100.json")
MAX_BYTES = migparted_read.MAX_BYTES


def parse(data, source: str, into: Capacity | None = None) -> Capacity:
    """A parsed table (version 1 or 2), merged into `into` (a new Capacity when None)."""
    cap = into if into is not None else Capacity()
    version = data.get("version") if isinstance(data, Mapping) else None
    if version not in (1, 2) or isinstance(version, bool) or "gpus" not in data:
        raise CapacityError(f"{source}: not a capacity table (wants `version: 1` or `version: 2` and a `gpus` mapping)")
    return (capacity_v2 if version == 2 else capacity_v1).parse(data, source, cap)


def read(path: str | Path) -> object:
    """A table file's data: JSON (.json) or YAML, read within the mig-parted reader's limits."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise CapacityError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_BYTES:
        raise CapacityError(f"{path}: larger than {MAX_BYTES // 1024} KiB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise CapacityError(f"{path}: line {line}: byte 0x{raw[exc.start]:02x} is not "
                            "UTF-8; a capacity table is UTF-8 text") from None
    if path.suffix != ".json":
        try:
            return migparted_read.parse_yaml(text, str(path))
        except migparted_read.MigPartedError as exc:
            raise CapacityError(str(exc)) from None
    try:
        return json_data(text)
    except CapacityError as exc:
        raise CapacityError(f"{path}: {exc}") from None


def load(paths: Sequence[str | Path] = ()) -> Capacity:
    """The tables given, merged in order; the shipped ones (lab, real H100) when none is given."""
    files = list(paths) or [TABLES / name for name in SHIPPED]
    cap = Capacity()
    for path in files:
        parse(read(path), str(path), cap)
    return cap
