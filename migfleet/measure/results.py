"""The points a `migfleet measure` run appends, one JSON line each, beside its table (TABLE.points.jsonl),
and the version-2 capacity table made from them.

A line is written and flushed as soon as its point is measured, so a run that stops keeps every
point it measured and a re-run measures only what is missing. Lines:

    {"point": {"gpu": GPU model, "profile", "model", "max_batch_size", "instance_count", "concurrency",
               "rate", "p50_ms", "p95_ms", "p99_ms", "memory_mib"}}
    {"source": {"command", "host", "gpu", "driver", "triton", "date"}, "targets": {model: ms}}
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from migfleet.advise.points import FIELDS
from migfleet.measure.grid import Setting


class ResultsError(ValueError):
    """A results file that cannot be read; the message names the file and line."""


def points_path(table: str | Path) -> Path:
    table = Path(table)
    return table.with_name(table.name + ".points.jsonl")


class Results:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.points: list[dict] = []
        self.sources: list[dict] = []
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            lines = []
        except (OSError, UnicodeDecodeError) as e:
            raise ResultsError(f"{self.path}: cannot read: {e}") from None
        for n, line in enumerate(lines, 1):
            try:
                entry = json.loads(line)
                if "point" in entry:
                    p = entry["point"]
                    missing = [k for k in ("gpu", "profile", "model", *FIELDS) if k not in p]
                    if missing:
                        raise ValueError(f"lacks {', '.join(missing)}")
                    self.points.append(p)
                elif "source" in entry:
                    self.sources.append(entry)
                else:
                    raise ValueError("neither a point nor a source")
            except (ValueError, TypeError, AttributeError) as e:
                if n == len(lines) and not line.endswith("}"):
                    continue        # the last line, cut short by an interrupted run: measured again
                raise ResultsError(f"{self.path}: line {n}: not a measured point ({e}): {line[:200]!r}") from None

    def of(self, gpu: str, setting: Setting) -> list[dict]:
        return [p for p in self.points if p["gpu"] == gpu and
                (p["profile"], p["model"], p["max_batch_size"], p["instance_count"]) == setting.key()]

    def _append(self, entry: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = self.path.read_bytes() if self.path.exists() else b""
        if text and not text.endswith(b"\n"):      # a line cut short by a stopped run: never a whole point
            os.truncate(self.path, text.rfind(b"\n") + 1)
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry, sort_keys=True) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def add_point(self, gpu: str, setting: Setting, row: Mapping) -> dict:
        p = {"gpu": gpu, "profile": setting.profile, "model": setting.model,
             "max_batch_size": setting.max_batch_size, "instance_count": setting.instance_count,
             **{k: row[k] for k in ("concurrency", "rate", "p50_ms", "p95_ms", "p99_ms", "memory_mib")}}
        self._append({"point": p})
        self.points.append(p)
        return p

    def add_source(self, source: Mapping, targets: Mapping[str, float | None]) -> None:
        entry = {"source": dict(source), "targets": {m: t for m, t in targets.items() if t is not None}}
        self._append(entry)
        self.sources.append(entry)


def table(results: Results) -> dict:
    """The version-2 capacity table of every point measured (each point once: the first measured)."""
    gpus: dict = {}
    seen = set()
    memory: dict[str, float] = {}
    for p in results.points:
        k = (p["gpu"], p["profile"], p["model"], p["max_batch_size"], p["instance_count"], p["concurrency"])
        if k in seen:
            continue
        seen.add(k)
        gpus.setdefault(p["gpu"], {}).setdefault(p["profile"], {"points": {}})["points"] \
            .setdefault(p["model"], []).append({f: p[f] for f in FIELDS})
        memory[p["model"]] = max(memory.get(p["model"], 0.0), float(p["memory_mib"]))
    targets: dict[str, float] = {}
    for s in results.sources:
        targets.update(s.get("targets") or {})
    models = {m: {"memory_mib": memory[m], **({"p99_ms": targets[m]} if m in targets else {})} for m in sorted(memory)}
    for profiles in gpus.values():
        for entry in profiles.values():
            for pts in entry["points"].values():
                pts.sort(key=lambda q: (q["max_batch_size"], q["instance_count"], q["concurrency"]))
    sources = list({json.dumps(s["source"], sort_keys=True): s["source"] for s in results.sources}.values())
    return {"version": 2, "source": sources, "models": models, "gpus": gpus}


def write_table(path: str | Path, results: Results) -> None:
    """The table, as JSON (or YAML for .yaml/.yml), replaced whole in one rename."""
    path = Path(path)
    data = table(results)
    if path.suffix in (".yaml", ".yml"):
        import yaml
        text = yaml.safe_dump(data, sort_keys=False, width=120)
    else:
        text = json.dumps(data, indent=1) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
