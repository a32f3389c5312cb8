"""A no-op deploy does not grow with the model repository: on one lab host, the no-op with the lab's
tiny repository beside the same with a repository holding one extra 1 GiB weights file, in one run.

    .venv/bin/python bench/noop_repository.py [--host lab-h6] [--runs 5] [--rev HEAD]

Phases, each timed as whole `pyinfra -y inventories/lab.py deploy.py --limit HOST` processes:
  floor  `pyinfra ... fact server.Hostname`: pyinfra's own cost to reach the host and run one command
  tiny   no-op with the lab's repository (files/models, 4 small files)
  big    no-op with a copy of it plus lab_classifier/1/weights.bin (1 GiB of random bytes; the python
         backend reads only model.py there), after one deploy that uploaded it
  tiny   again, after the deploy that put the lab's repository back (and removed weights.bin)
It prints each phase's median and min-max, and the ratios big/tiny and each/floor; a no-op that
changed anything is reported. pyinfra runs from `git archive REV` (the deploy code measured), with
a fresh local digest cache, so the big repository is read once, by the deploy that uploads it.
Results: bench/results/lab/noop_repository.txt.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from labctl import LAB_INVENTORY, REPO, RESULTS, VENV_BIN, lab_lock, log, run, snapshot_head, ssh

GIB = 1 << 30
WEIGHTS = "lab_classifier/1/weights.bin"


def snapshot(rev: str, dest: Path) -> str:
    if rev == "HEAD":
        return snapshot_head(dest)
    commit = run(["git", "rev-parse", rev], timeout=30).stdout.strip()
    dest.mkdir(parents=True, exist_ok=True)
    run(["sh", "-c", f"git archive {commit} | tar -x -C {dest}"], timeout=120)
    return commit


def big_repository(work: Path, tree: Path) -> Path:
    repo = work / "models-big"
    shutil.copytree(tree / "files" / "models", repo)
    with open(repo / WEIGHTS, "wb") as f:
        for _ in range(GIB // (64 << 20)):
            f.write(os.urandom(64 << 20))
    return repo


def inventory(path: Path, tree: Path, host: str, repo: Path) -> Path:
    path.write_text("import runpy\n"
                    f"_hosts, _data = runpy.run_path({str(tree / LAB_INVENTORY)!r})['lab']\n"
                    f"lab = ([(n, {{**d, 'triton_model_repository': {str(repo)!r}}}) if n == {host!r} else (n, d) "
                    "for n, d in _hosts], _data)\n")
    return path


class Runner:
    def __init__(self, tree: Path, cache: Path, host: str):
        # the snapshot's migfleet, not the checkout's (editable install): first on the path
        self.env = {**os.environ, "PYTHONPATH": str(tree), "XDG_CACHE_HOME": str(cache)}
        self.tree, self.host = tree, host

    def pyinfra(self, *args: str) -> tuple[float, str]:
        started = time.perf_counter()
        proc = run([str(VENV_BIN / "pyinfra"), *args, "--limit", self.host], timeout=900, cwd=self.tree,
                   env=self.env)
        return time.perf_counter() - started, proc.stdout + proc.stderr

    def deploy(self, inv: Path) -> tuple[float, str]:
        return self.pyinfra("-y", str(inv), "deploy.py")

    def floor(self) -> float:
        return self.pyinfra(str(self.tree / LAB_INVENTORY), "fact", "server.Hostname")[0]


def changed_ops(output: str) -> str:
    """pyinfra's Grand total row: '-' in the Success column when nothing changed."""
    m = re.search(r"Grand total\s+(\S+)\s+(\S+)", output)
    return m.group(2) if m else "?"


def median_row(name: str, times: list[float], floor: float) -> str:
    med = statistics.median(times)
    return (f"{name:<6} {med:>8.2f} {min(times):>8.2f} {max(times):>8.2f} {med / floor:>8.1f}   "
            + " ".join(f"{t:.2f}" for t in times))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="lab-h6")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rev", default="HEAD")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="migfleet-noop-repo-"))
    try:
        tree = work / "tree"
        commit = snapshot(args.rev, tree)
        log(f"deploy code {commit[:12]}; writing the 1 GiB weights file")
        big = big_repository(work, tree)
        tiny_inv = inventory(work / "tiny.py", tree, args.host, tree / "files" / "models")
        big_inv = inventory(work / "big.py", tree, args.host, big)
        r = Runner(tree, work / "cache", args.host)
        times: dict[str, list[float]] = {"floor": [], "tiny": [], "big": [], "tiny2": []}
        changed: list[str] = []
        with lab_lock():
            def noops(phase: str, inv: Path) -> None:
                for _ in range(args.runs):
                    seconds, out = r.deploy(inv)
                    times[phase].append(seconds)
                    if changed_ops(out) not in ("-", "0"):
                        changed.append(f"{phase}: a no-op changed {changed_ops(out)} operation(s)")
            for _ in range(args.runs):
                times["floor"].append(r.floor())
            log("tiny: converge, then no-ops")
            r.deploy(tiny_inv)
            noops("tiny", tiny_inv)
            log("big: converge (uploads 1 GiB), then no-ops")
            up, _ = r.deploy(big_inv)
            noops("big", big_inv)
            log("tiny again: the lab's repository back (weights.bin removed), then no-ops")
            back, _ = r.deploy(tiny_inv)
            noops("tiny2", tiny_inv)
            # (the host is left converged to the lab's own layout and repository)
            left = ssh(args.host, f"ls /opt/migfleet/models/{WEIGHTS} 2>/dev/null; true").stdout.strip()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    floor = statistics.median(times["floor"])
    tiny = statistics.median(times["tiny"] + times["tiny2"])
    lines = [
        f"no-op deploy vs model repository size, {args.host}, deploy code {commit[:12]}, {args.runs} runs a phase",
        f"{'phase':<6} {'median':>8} {'min':>8} {'max':>8} {'x floor':>8}   runs (s)",
        median_row("floor", times["floor"], floor),
        median_row("tiny", times["tiny"], floor),
        median_row("big", times["big"], floor),
        median_row("tiny", times["tiny2"], floor),
        f"big/tiny (median of big / median of both tiny phases): {statistics.median(times['big']) / tiny:.2f}",
        f"deploy that uploaded the 1 GiB file: {up:.1f} s; deploy that removed it: {back:.1f} s",
        f"weights.bin left on the host after the lab's repository came back: {'yes' if left else 'no'}",
        *(changed or ["every no-op changed nothing"]),
    ]
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if args.rev == "HEAD":
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "noop_repository.txt").write_text(text)
    return 1 if changed or left else 0


if __name__ == "__main__":
    raise SystemExit(main())
