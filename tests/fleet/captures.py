"""Snapshot text assembled from the capture files, as SNAPSHOT_COMMAND prints it."""
from __future__ import annotations

from pathlib import Path

from migfleet.mig import smi as parsers
from migfleet.sections import MARK

CAPTURES = Path(__file__).resolve().parent / "captures"
FILES = {"query": "query.csv", "list": "L.txt", "lgi": "lgi.txt", "lci": "lci.txt", "xml": "q.xml"}


def snapshot_text(name: str, replace: dict[str, str] | None = None) -> str:
    """`replace` swaps a section's text ({section: text}) to make variants of a capture."""
    out = []
    for section, filename in FILES.items():
        text = (replace or {}).get(section) or (CAPTURES / name / filename).read_text()
        out += [f"{MARK} {section}", text.rstrip("\n"), f"{MARK} rc=0"]
    return "\n".join(out) + "\n"


def snapshot(name: str, replace: dict[str, str] | None = None):
    return parsers.parse_snapshot(snapshot_text(name, replace))
