"""nvidia-smi listings that depend only on the saved state, rendered at every state change.

A real nvidia-smi is a C program that answers `-L` or `mig -lgi` in milliseconds; the simulator is
Python and costs tens of milliseconds to start, which on the lab's shared cores is a cost real
hosts do not have. The lab's /usr/bin/nvidia-smi serves these exact command lines from the files
written here (the same bytes the simulator prints, rendered from the same state) and runs the
simulator for everything else (anything with a timestamp, processes, or a change).
"""
from __future__ import annotations

from pathlib import Path

from lab.atomic import write_atomic

# The command lines served from files (migfleet's snapshot reads; others run the simulator).
QUERY = ("--query-gpu=index,uuid,name,pci.bus_id,mig.mode.current,mig.mode.pending,memory.total,"
         "driver_version")
CACHED = {"L": ["-L"], "lgi": ["mig", "-lgi"], "lci": ["mig", "-lci"],
          "query": [QUERY, "--format=csv,noheader,nounits"]}


def listings_dir(state_dir: Path) -> Path:
    return state_dir / "listings"


def render(state: dict, run_on) -> dict[str, tuple[str, int]]:
    """{key: (stdout, exit code)} of every cached command line, from `state`, as the simulator's
    `run_on` prints them."""
    return {key: run_on(state, args) for key, args in CACHED.items()}


def write(state: dict, state_dir: Path, run_on) -> None:
    out = listings_dir(state_dir)
    out.mkdir(parents=True, exist_ok=True)
    for key, (text, rc) in render(state, run_on).items():
        for suffix, data in (("out", text), ("rc", f"{rc}\n")):
            write_atomic(out / f"{key}.{suffix}", data)


def wrapper(lib: str, listings: str) -> str:
    """/usr/bin/nvidia-smi: the cached listings, else the simulator (`python3 -m lab.nvsim.smi`)."""
    cases = "\n".join(f'  "{" ".join(args)}") k={key} ;;' for key, args in CACHED.items())
    return f"""#!/bin/sh
# The lab's simulated nvidia-smi. Listings that depend only on the driver's saved state come from
# files the simulator renders at every change (lab/nvsim/listings.py); the rest runs it.
case "$*" in
{cases}
  *) k= ;;
esac
if [ -n "$k" ] && [ -r "{listings}/$k.rc" ]; then
  cat "{listings}/$k.out"
  exit "$(cat "{listings}/$k.rc")"
fi
exec /usr/bin/python3 -S -c 'import sys; sys.path.insert(0, "{lib}"); from lab.nvsim.smi import main; sys.exit(main())' "$@"
"""
