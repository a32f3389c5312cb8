"""Fleet benchmark: first converge and no-op re-run of deploy.py on N fresh lab hosts, against the floor.

For each size N (fresh hosts: `lab down` + `lab up --hosts N --gpus H100`, 2 Tritons a host):
  floor     `pyinfra INV fact server.Hostname` (median of 3): pyinfra's fixed cost to reach N hosts
  converge  `pyinfra -y INV deploy.py` on hosts that never saw migfleet
  noop      the same deploy again, nothing to change
Remote commands are counted on the hosts: sshd at LogLevel VERBOSE writes one "Starting session:"
line per exec or subsystem channel to the host's journal; each phase's lines are those between its
start and end. pyinfra's own count (`--debug` "Running command on HOST") is kept as a cross-check.

pyinfra runs from `git archive HEAD` unpacked in the cache (the checkout may change during the run);
the commit is in fleet_summary.json. A no-op re-run that changes any operation marks the size failed.

Each size runs in one held period of the lab lock; the suite lab is restored (fresh) at the end.

    .venv/bin/python bench/fleet.py --sizes 1,5,10,20
"""
from __future__ import annotations

import argparse
import csv
import json
import re
import shutil
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from perftools import CACHE
from labctl import (LAB_INVENTORY, RESULTS, lab_cli, lab_lock, log, pyinfra, restore_suite_lab, snapshot_head,
                    ssh)

GPUS = "H100"
SSHD_DROPIN = "/etc/ssh/sshd_config.d/00-bench-verbose.conf"
SESSION_RE = re.compile(r"^(\d+\.\d+) \S+ sshd\[\d+\]: Starting session: (command|subsystem|shell)")
PYINFRA_CMD_RE = re.compile(r"Running command on (\S+?):")
GRAND_TOTAL_RE = re.compile(r"Grand total\s+(\d+)\s+(\d+|-)\s+(\d+|-)\s+(\d+|-)")
FLOOR_RUNS = 3
FIELDS = ["hosts", "phase", "wall_s", "sessions_total", "sessions_per_host_min", "sessions_per_host_max",
          "sessions_per_host_mean", "pyinfra_commands_per_host_mean", "ops_changed", "ops_unchanged", "rc"]


def _each_host(names: list[str], fn):
    with ThreadPoolExecutor(max_workers=min(len(names), 20)) as pool:
        return dict(zip(names, pool.map(fn, names)))


def enable_session_logging(names: list[str]) -> None:
    command = (f"printf 'LogLevel VERBOSE\\n' > {SSHD_DROPIN} && systemctl reload ssh")
    _each_host(names, lambda h: ssh(h, command))
    time.sleep(0.5)  # sshd re-execs on SIGHUP


def session_times(names: list[str], since: float) -> dict[str, list[float]]:
    """Per host, the times of sshd's "Starting session" lines since `since`."""
    def read(host: str) -> list[float]:
        text = ssh(host, f"journalctl -t sshd -o short-unix --no-pager --since @{since:.6f}").stdout
        return [float(m.group(1)) for m in map(SESSION_RE.match, text.splitlines()) if m]
    return _each_host(names, read)


def ops_totals(output: str) -> tuple[int | None, int | None]:
    """(changed, unchanged) operations from pyinfra's "Grand total" results line; None if absent."""
    m = GRAND_TOTAL_RE.search(output)
    if not m:
        return None, None
    number = lambda text: 0 if text == "-" else int(text)  # noqa: E731
    return number(m.group(2)), number(m.group(4))


def timed_pyinfra(code: Path, *args: str) -> tuple[float, float, float, str, int]:
    start = time.time()
    proc = pyinfra(*args, "--debug", timeout=1800, check=False, cwd=code)
    end = time.time()
    return start, end, end - start, proc.stdout + proc.stderr, proc.returncode


def pyinfra_counts(output: str, names: list[str]) -> dict[str, int]:
    counts = {n: 0 for n in names}
    for m in PYINFRA_CMD_RE.finditer(output):
        if m.group(1) in counts:
            counts[m.group(1)] += 1
    return counts


def measure_size(n: int, logs_dir: Path, code: Path) -> list[dict]:
    lab_cli("down", timeout=120)
    lab_cli("up", "--hosts", str(n), "--gpus", GPUS, timeout=600)
    names = [f"lab-h{i}" for i in range(1, n + 1)]
    enable_session_logging(names)
    since = time.time()
    windows: list[tuple[str, float, float, float, str, int]] = []
    log(f"{n} hosts: converge")
    windows.append(("converge", *timed_pyinfra(code, "-y", LAB_INVENTORY, "deploy.py")))
    log(f"{n} hosts: converge {windows[-1][3]:.1f} s rc={windows[-1][5]}; no-op")
    windows.append(("noop", *timed_pyinfra(code, "-y", LAB_INVENTORY, "deploy.py")))
    log(f"{n} hosts: no-op {windows[-1][3]:.1f} s rc={windows[-1][5]}; floor")
    for i in range(FLOOR_RUNS):
        windows.append((f"floor{i}", *timed_pyinfra(code, LAB_INVENTORY, "fact", "server.Hostname")))
    sessions = session_times(names, since)
    rows = []
    for phase, start, end, wall, output, rc in windows:
        (logs_dir / f"h{n}-{phase}.log").write_text(output)
        per_host = [sum(start <= t <= end for t in sessions[h]) for h in names]
        pyinfra_per_host = list(pyinfra_counts(output, names).values())
        changed, unchanged = ops_totals(output)
        rows.append({
            "hosts": n, "phase": phase, "wall_s": round(wall, 3),
            "sessions_total": sum(per_host),
            "sessions_per_host_min": min(per_host), "sessions_per_host_max": max(per_host),
            "sessions_per_host_mean": round(statistics.mean(per_host), 2),
            "pyinfra_commands_per_host_mean": round(statistics.mean(pyinfra_per_host), 2),
            "ops_changed": changed, "ops_unchanged": unchanged, "rc": rc,
        })
    return rows


def summarize(rows: list[dict]) -> list[dict]:
    out = []
    for n in sorted({r["hosts"] for r in rows}):
        by = {r["phase"]: r for r in rows if r["hosts"] == n}
        floors = [r for p, r in by.items() if p.startswith("floor")]
        floor = statistics.median(r["wall_s"] for r in floors)
        out.append({
            "hosts": n,
            "converge_s": by["converge"]["wall_s"], "noop_s": by["noop"]["wall_s"], "floor_s": round(floor, 3),
            "converge_over_floor": round(by["converge"]["wall_s"] / floor, 2),
            "noop_over_floor": round(by["noop"]["wall_s"] / floor, 2),
            "converge_cmds_per_host": by["converge"]["sessions_per_host_mean"],
            "noop_cmds_per_host": by["noop"]["sessions_per_host_mean"],
            "floor_cmds_per_host": statistics.median(r["sessions_per_host_mean"] for r in floors),
            "noop_ops_changed": by["noop"].get("ops_changed"),
            "ok": all(r["rc"] == 0 for r in by.values()) and not by["noop"].get("ops_changed"),
        })
    return out


def print_summary(summary: list[dict]) -> None:
    print(f"{'hosts':>5} {'converge s':>10} {'no-op s':>8} {'floor s':>8} {'conv/floor':>10} "
          f"{'noop/floor':>10} {'cmds/host conv':>14} {'noop':>5} {'floor':>5}")
    for s in summary:
        print(f"{s['hosts']:>5} {s['converge_s']:>10.1f} {s['noop_s']:>8.1f} {s['floor_s']:>8.2f} "
              f"{s['converge_over_floor']:>10.2f} {s['noop_over_floor']:>10.2f} "
              f"{s['converge_cmds_per_host']:>14.1f} {s['noop_cmds_per_host']:>5.1f} "
              f"{s['floor_cmds_per_host']:>5.1f}"
              + ("" if s["ok"] else "  (a pyinfra run failed, or the no-op re-run changed something)"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1,5,10,20")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--no-restore", action="store_true",
                        help="leave the last size's lab (for development; others expect the suite lab)")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    logs_dir = CACHE / "fleet-logs"
    logs_dir.mkdir(parents=True, exist_ok=True)
    code = CACHE / "fleet-code"
    shutil.rmtree(code, ignore_errors=True)
    commit = snapshot_head(code)
    log(f"deploy code: git archive {commit} in {code}")
    rows: list[dict] = []
    with lab_lock():
        try:
            for n in sizes:
                rows += measure_size(n, logs_dir, code)
        finally:
            if not args.no_restore:        # once, at the end: each size brings its own fresh lab up
                restore_suite_lab(fresh=True)
    with open(args.out / "fleet.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    summary = summarize(rows)
    for s in summary:
        s["commit"] = commit
    (args.out / "fleet_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print_summary(summary)
    return 0 if all(s["ok"] for s in summary) else 1


if __name__ == "__main__":
    raise SystemExit(main())
