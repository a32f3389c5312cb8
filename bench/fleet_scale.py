"""Fleet scale: the deploy machine's cost per host, on thin lab hosts, against the floor.

For each size N (fresh hosts: `lab down --thin` + `lab up --hosts N --thin`: systemd, sshd and the
simulated driver, one H100 a host, `mig_only`, inventories/thin.py), the phases, in order:

  floor      `pyinfra INV fact server.Hostname` (3 runs): reach N hosts and run one command
  validate   `python -m migfleet validate INV` (no host contacted)
  live       `python -m migfleet validate --live INV` (one read per host)
  dry        `pyinfra INV deploy.py --dry` on hosts that never saw migfleet
  converge   `pyinfra -y INV deploy.py`: the first MIG converge
  noop-full  the same again with the deploy machine's kept reads removed first: every host sends its
             full read (as before hosts answered "unchanged"); they are kept again
  noop       the same again, nothing to change (3 runs): each host answers "unchanged" in one line
  floor-p01, noop-p01   floor and no-op with paramiko's 0.1 s wake-up per connection (config_p01.py:
             config.py as before the wake-up went to 1 s), for the before/after of that cut
  drift      `python -m migfleet drift INV`
  floor-before, noop-before   floor and no-op with the deploy code of `--before REV` (git archive),
             for a cut's before and after in one run (the kept reads are shared: same read, same hosts).
             A no-op phase whose deploy code is not the one that last deployed first runs once,
             unrecorded: it syncs its own host code (the read's short answer runs it on the host).

Each phase is one process started from here and reaped with wait4(2): its wall time, the CPU
seconds (user + sys) of its whole process tree as the kernel accounts them, and its peak memory
(the largest single process's maxrss); and the CPU seconds the thin hosts used meanwhile (their
cgroups), which the hosts' own cores would carry on a real fleet. Remote commands per host are counted on the hosts: thin
hosts' sshd logs one "Starting session:" line per SSH channel (LogLevel VERBOSE), read from each
host's journal once all phases ran and split by the phases' time windows. Bytes per host are
counted on the wire: each thin host's veth on this machine (`mfthin-vN`), its received bytes
(what the host sent: the bytes read from it) and transmitted bytes, before and after each phase,
Ethernet, IP, TCP and SSH included; the floor's are what reaching a host and reading one line cost.
The deploy machine's kept reads (facts.view_cache) live in a cache folder of the bench's own,
emptied with each fresh lab, so each size starts as a first deploy does.

Prints, per phase, controller CPU per host against the floor's, and wall time against the floor's.
pyinfra and every migfleet command run from `git archive REV` unpacked in the cache (default HEAD).
The hosts share this machine's cores with the controller: wall times include the hosts' own work
(the simulated nvidia-smi), CPU seconds do not (hosts run in their own cgroups).

    .venv/bin/python bench/fleet_scale.py [--sizes 1,20,50,100,200] [--rev HEAD] [--out DIR]
    .venv/bin/python bench/fleet_scale.py --plot-only       # the plot again from the summary
    .venv/bin/python bench/fleet_scale.py --rollout 200     # rollout scenario: 5 hosts fail mid-way, then resume
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "lab"
CACHE = Path(os.environ.get("MIGFLEET_BENCH_CACHE", "/var/cache/migfleet-bench"))
THIN_DIR = Path(os.environ.get("MIGFLEET_THIN_DIR", "/var/lib/migfleet-thin"))
VENV_BIN = Path(sys.executable).parent
INVENTORY = "inventories/thin.py"
GPUS = "H100"
SESSION_RE = re.compile(r"^(\d+\.\d+) \S+ sshd\[\d+\]: Starting session: (command|subsystem|shell)")
GRAND_TOTAL_RE = re.compile(r"Grand total\s+(\d+|-)\s+(\d+|-)\s+(\d+|-)\s+(\d+|-)")
REPEATS = {"floor": 3, "noop": 3, "floor-before": 3, "noop-before": 3}
PHASES = ("floor", "validate", "live", "dry", "converge", "noop-full", "noop", "floor-p01", "noop-p01", "drift")
# config.py as it was before paramiko's wake-up went from 0.1 s to 1 s (phases *-p01)
BEFORE_POLL_CUT = "\nimport paramiko  # noqa: E402\n\nparamiko.Transport._active_check_timeout = 0.1\n"
FIELDS = ["hosts", "phase", "run", "wall_s", "cpu_s", "user_s", "sys_s", "peak_mib", "hosts_cpu_s", "rc", "ops_changed",
          "sessions_per_host_mean", "sessions_per_host_min", "sessions_per_host_max", "read_bytes_per_host",
          "sent_bytes_per_host"]
# Phases that deploy (and so sync the host code of the deploy code they run)
DEPLOYS = ("converge", "noop-full", "noop", "noop-p01", "noop-before")
READS = CACHE / "fleet-scale-reads"       # XDG_CACHE_HOME of every phase: the kept reads (facts.view_cache)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def phase_argv(phase: str) -> list[str]:
    pyinfra, python = str(VENV_BIN / "pyinfra"), str(VENV_BIN / "python")
    return {
        "floor": [pyinfra, INVENTORY, "fact", "server.Hostname"],
        "validate": [python, "-m", "migfleet", "validate", INVENTORY],
        "live": [python, "-m", "migfleet", "validate", "--live", INVENTORY],
        "dry": [pyinfra, INVENTORY, "deploy.py", "--dry"],
        "converge": [pyinfra, "-y", INVENTORY, "deploy.py"],
        "noop": [pyinfra, "-y", INVENTORY, "deploy.py"],
        "noop-full": [pyinfra, "-y", INVENTORY, "deploy.py"],
        "floor-p01": [pyinfra, "--config", "config_p01.py", INVENTORY, "fact", "server.Hostname"],
        "noop-p01": [pyinfra, "--config", "config_p01.py", "-y", INVENTORY, "deploy.py"],
        "floor-before": [pyinfra, INVENTORY, "fact", "server.Hostname"],
        "noop-before": [pyinfra, "-y", INVENTORY, "deploy.py"],
        "drift": [python, "-m", "migfleet", "drift", INVENTORY],
    }[phase]


def hosts_cpu_s() -> float:
    """CPU seconds used so far by every thin host (their cgroups: cgroup v1 cpuacct, else v2 cpu.stat)."""
    v1 = Path("/sys/fs/cgroup/cpuacct/mfthin/cpuacct.usage")
    if v1.exists():
        return int(v1.read_text()) / 1e9
    v2 = Path("/sys/fs/cgroup/unified/mfthin/cpu.stat")
    for line in (v2.read_text().splitlines() if v2.exists() else ()):
        if line.startswith("usage_usec "):
            return int(line.split()[1]) / 1e6
    return float("nan")


def wire_bytes() -> dict[str, tuple[int, int]]:
    """Per thin host's veth on this machine: (bytes it received from the host, bytes sent to it)."""
    out = {}
    for link in Path("/sys/class/net").glob("mfthin-v*"):
        stats = link / "statistics"
        out[link.name] = (int((stats / "rx_bytes").read_text()), int((stats / "tx_bytes").read_text()))
    return out


def timed(argv: list[str], cwd: Path, log_file: Path, timeout: float = 1800) -> dict:
    """One process, reaped with wait4: wall, CPU of its tree, peak memory, exit code, output, and
    the bytes on the thin hosts' links meanwhile (mean per host)."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "COLUMNS": "200", "XDG_CACHE_HOME": str(READS)}
    env.pop("MIGFLEET_LAB_THIN", None)
    with open(log_file, "w") as out:
        hosts_before = hosts_cpu_s()
        wire_before = wire_bytes()
        start = time.time()
        proc = subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        deadline = time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
            time.sleep(0.02)
        end = time.time()
        hosts_used = hosts_cpu_s() - hosts_before
        wire_after = wire_bytes()
    links = [k for k in wire_after if k in wire_before] or ["none"]
    read_bytes = statistics.mean(wire_after.get(k, (0, 0))[0] - wire_before.get(k, (0, 0))[0] for k in links)
    sent_bytes = statistics.mean(wire_after.get(k, (0, 0))[1] - wire_before.get(k, (0, 0))[1] for k in links)
    proc.returncode = os.waitstatus_to_exitcode(status)
    output = log_file.read_text(errors="replace")
    m = GRAND_TOTAL_RE.search(output)
    changed = None
    if m:
        changed = 0 if m.group(2) == "-" else int(m.group(2))
    return {"start": start, "end": end, "wall_s": round(end - start, 3),
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 3), "user_s": round(usage.ru_utime, 3),
            "sys_s": round(usage.ru_stime, 3), "peak_mib": round(usage.ru_maxrss / 1024, 1),
            "hosts_cpu_s": round(hosts_used, 2), "read_bytes_per_host": round(read_bytes),
            "sent_bytes_per_host": round(sent_bytes), "rc": proc.returncode, "ops_changed": changed}


def lab(*args: str, timeout: float = 900) -> None:
    proc = subprocess.run([str(VENV_BIN / "python"), "-m", "lab", *args, "--thin"], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"python -m lab {' '.join(args)} --thin failed:\n{proc.stderr[-3000:]}")
    log(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"lab {' '.join(args)}: done")


def host_names() -> list[str]:
    return [h["name"] for h in json.loads((THIN_DIR / "inventory.json").read_text())["hosts"]]


def session_times(names: list[str], since: float) -> dict[str, list[float]]:
    """Per host, the times of sshd's "Starting session" lines since `since` (one SSH read each)."""
    def read(host: str) -> list[float]:
        proc = subprocess.run(["ssh", "-F", str(THIN_DIR / "ssh_config"), "-o", "BatchMode=yes", host,
                               f"journalctl -t sshd -o short-unix --no-pager --since @{since:.6f}"],
                              capture_output=True, text=True, timeout=120)
        return [float(m.group(1)) for m in map(SESSION_RE.match, proc.stdout.splitlines()) if m]
    with ThreadPoolExecutor(max_workers=16) as pool:
        return dict(zip(names, pool.map(read, names)))


def snapshot(rev: str, dest: Path) -> str:
    commit = subprocess.run(["git", "rev-parse", rev], cwd=REPO, capture_output=True, text=True,
                            check=True).stdout.strip()
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", commit], cwd=REPO, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    return commit


def measure_size(n: int, code: Path, logs: Path, phases: tuple[str, ...], keep: bool = False,
                 before: Path | None = None) -> list[dict]:
    if not keep:
        lab("down", timeout=300)
        lab("up", "--hosts", str(n), "--gpus", GPUS, timeout=900)
        shutil.rmtree(READS, ignore_errors=True)        # fresh hosts: nothing kept of them
    names = host_names()
    if len(names) != n:
        raise RuntimeError(f"the thin lab has {len(names)} hosts, not {n}")
    since = time.time()
    rows = []
    (code / "config_p01.py").write_text((code / "config.py").read_text() + BEFORE_POLL_CUT)
    deployed_by = code      # whose deploy code last deployed to the hosts (and synced its host code there)
    for phase in phases:
        where = before if phase.endswith("-before") and before is not None else code
        if phase in DEPLOYS and where != deployed_by:
            # Other deploy code syncs other host code (migfleet's read runs it): one run, not recorded,
            # puts it on the hosts, so the recorded runs are the no-ops of that code.
            r = timed(phase_argv(phase), where, logs / f"h{n}-{phase}-sync.log")
            log(f"{n} hosts: {phase} once unrecorded, to sync its host code: wall {r['wall_s']:.2f} s, "
                f"{r['ops_changed']} op(s) changed, rc {r['rc']}")
        if phase in DEPLOYS:
            deployed_by = where
        for i in range(REPEATS.get(phase, 1)):
            if phase == "noop-full":
                shutil.rmtree(READS, ignore_errors=True)
            r = timed(phase_argv(phase), where, logs / f"h{n}-{phase}{i}.log")
            rows.append({"hosts": n, "phase": phase, "run": i, **r})
            log(f"{n} hosts: {phase}[{i}] wall {r['wall_s']:.2f} s, cpu {r['cpu_s']:.2f} s, "
                f"peak {r['peak_mib']:.0f} MiB, read {r['read_bytes_per_host']} B/host, rc {r['rc']}"
                + (f", {r['ops_changed']} op(s) changed" if r["ops_changed"] is not None else ""))
    sessions = session_times(names, since)
    for r in rows:
        per_host = [sum(r["start"] <= t <= r["end"] for t in sessions[h]) for h in names]
        r.update(sessions_per_host_mean=round(statistics.mean(per_host), 2),
                 sessions_per_host_min=min(per_host), sessions_per_host_max=max(per_host))
    return rows


def summarize(rows: list[dict]) -> list[dict]:
    """Per size and phase (median over runs): wall, CPU, CPU per host, both against the floor."""
    out = []
    for n in sorted({r["hosts"] for r in rows}):
        at = [r for r in rows if r["hosts"] == n]
        med = {}
        for phase in dict.fromkeys(r["phase"] for r in at):
            runs = [r for r in at if r["phase"] == phase]
            med[phase] = {k: statistics.median(r[k] for r in runs)
                          for k in ("wall_s", "cpu_s", "peak_mib", "sessions_per_host_mean", "hosts_cpu_s",
                                    "read_bytes_per_host", "sent_bytes_per_host")}
            med[phase]["ok"] = all(r["rc"] == 0 for r in runs) and \
                (not phase.startswith("noop") or all(not r["ops_changed"] for r in runs))
        for phase, m in med.items():
            floor = med.get("floor-p01" if phase.endswith("-p01") else "floor-before" if phase.endswith("-before")
                            else "floor")
            out.append({
                "hosts": n, "phase": phase, "wall_s": round(m["wall_s"], 3), "cpu_s": round(m["cpu_s"], 3),
                "cpu_ms_per_host": round(1000 * m["cpu_s"] / n, 1),
                "cpu_per_host_over_floor": round(m["cpu_s"] / floor["cpu_s"], 2) if floor else None,
                "wall_over_floor": round(m["wall_s"] / floor["wall_s"], 2) if floor else None,
                "commands_per_host": m["sessions_per_host_mean"], "peak_mib": m["peak_mib"],
                "hosts_cpu_ms_per_host": round(1000 * m["hosts_cpu_s"] / n, 1),
                "read_bytes_per_host": round(m["read_bytes_per_host"]), "sent_bytes_per_host": round(m["sent_bytes_per_host"]),
                "read_bytes_over_floor": round(m["read_bytes_per_host"] - floor["read_bytes_per_host"]) if floor else None,
                "ok": m["ok"],
            })
    return out


def print_summary(summary: list[dict]) -> None:
    print(f"{'hosts':>5} {'phase':<9} {'wall s':>8} {'cpu s':>7} {'cpu ms/host':>11} {'cpu/host / floor':>16} "
          f"{'wall / floor':>12} {'cmds/host':>9} {'peak MiB':>8} {'host cpu ms/host':>16} {'read B/host':>11} "
          f"{'- floor':>7}")
    for s in summary:
        print(f"{s['hosts']:>5} {s['phase']:<9} {s['wall_s']:>8.2f} {s['cpu_s']:>7.2f} {s['cpu_ms_per_host']:>11.1f} "
              f"{s['cpu_per_host_over_floor']:>16.2f} {s['wall_over_floor']:>12.2f} {s['commands_per_host']:>9.1f} "
              f"{s['peak_mib']:>8.0f} {s.get('hosts_cpu_ms_per_host', float('nan')):>16.1f} "
              f"{s.get('read_bytes_per_host', float('nan')):>11} {s.get('read_bytes_over_floor') or 0:>7}"
              + ("" if s["ok"] else "  (failed, or the no-op changed something)"))


def plot(summary: list[dict], path: Path, title: str) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    phases = list(dict.fromkeys(s["phase"] for s in summary))
    hosts = sorted({s["hosts"] for s in summary})
    fig, axes = plt.subplots(1, 4, figsize=(22, 5))
    for phase in phases:
        pts = [s for s in summary if s["phase"] == phase]
        style = dict(color="black", linewidth=2.5) if phase == "floor" else {}
        axes[0].plot([p["hosts"] for p in pts], [p["cpu_ms_per_host"] for p in pts], marker="o", label=phase, **style)
        axes[1].plot([p["hosts"] for p in pts], [p["wall_s"] for p in pts], marker="o", label=phase, **style)
        axes[2].plot([p["hosts"] for p in pts], [p["peak_mib"] for p in pts], marker="o", label=phase, **style)
        if all(p.get("read_bytes_per_host") is not None for p in pts):
            axes[3].plot([p["hosts"] for p in pts], [max(p["read_bytes_per_host"], 1) for p in pts], marker="o",
                         label=phase, **style)
    axes[0].set(ylabel="controller CPU ms per host (user + sys)", title="controller CPU per host", yscale="log")
    axes[1].set(ylabel="wall time (s)", title="wall time (hosts share the 2 cores)")
    axes[2].set(ylabel="MiB (largest process)", title="peak controller memory")
    axes[3].set(ylabel="bytes read per host (on the wire)", title="bytes read from each host", yscale="log")
    for ax in axes:
        ax.set(xlabel="thin lab hosts")
        ax.set_xticks(hosts)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def on_hosts(names: list[str], command: str) -> None:
    for name in names:
        subprocess.run(["ssh", "-F", str(THIN_DIR / "ssh_config"), "-o", "BatchMode=yes", name, command],
                       check=True, capture_output=True, timeout=60)


def rollout_lines(output: str) -> list[str]:
    """The rollout's own lines (pyinfra's and pytest's, echoed indented with "|", left out)."""
    return [line for line in output.splitlines() if not line.startswith("    |")]


def rollout_scenario(n: int, failing: list[int], code: Path, commit: str, logs: Path, out: Path) -> int:
    """`migfleet rollout` over N fresh thin hosts with the failing ones holding their GPUs (nvidia_drm
    loaded: the MIG mode change is refused); then, the module unloaded, the rollout resumed."""
    lab("down", timeout=300)
    lab("up", "--hosts", str(n), "--gpus", GPUS, timeout=900)
    bad = [f"thin-h{i}" for i in failing]
    on_hosts(bad, "nvsim-ctl module load nvidia_drm")
    state_dir = CACHE / "fleet-scale-rollout"
    shutil.rmtree(state_dir, ignore_errors=True)
    argv = [str(VENV_BIN / "python"), "-m", "migfleet", "rollout", INVENTORY, "--state-dir", str(state_dir)]
    report = [f"# migfleet rollout over {n} thin hosts, {', '.join(bad)} holding their GPUs (nvidia_drm loaded)",
              f"# deploy code: git archive {commit} (bench/fleet_scale.py --rollout {n})", ""]
    first = timed(argv, code, logs / f"rollout-{n}.log", timeout=3600)
    log(f"rollout: exit {first['rc']} after {first['wall_s']:.0f} s (controller CPU {first['cpu_s']:.0f} s)")
    report += [f"$ python -m migfleet rollout {INVENTORY}   # exit {first['rc']}, {first['wall_s']:.0f} s wall, "
               f"{first['cpu_s']:.0f} s controller CPU", *rollout_lines((logs / f"rollout-{n}.log").read_text())]
    on_hosts(bad, "nvsim-ctl module unload nvidia_drm")
    second = timed(argv, code, logs / f"rollout-{n}-resume.log", timeout=3600)
    log(f"rollout resumed: exit {second['rc']} after {second['wall_s']:.0f} s")
    report += ["", f"# nvidia_drm unloaded on {', '.join(bad)}",
               f"$ python -m migfleet rollout {INVENTORY}   # exit {second['rc']}, {second['wall_s']:.0f} s wall, "
               f"{second['cpu_s']:.0f} s controller CPU",
               *rollout_lines((logs / f"rollout-{n}-resume.log").read_text())]
    (out / "rollout_scale.txt").write_text("\n".join(report) + "\n")
    return 0 if first["rc"] != 0 and second["rc"] == 0 else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1,20,50,100,200")
    parser.add_argument("--phases", default=",".join(PHASES))
    parser.add_argument("--rev", default="HEAD", help="deploy code measured (git archive REV)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--name", default="fleet_scale", help="output files: NAME.csv, NAME_summary.json, NAME.png")
    parser.add_argument("--before", metavar="REV", help="deploy code of the *-before phases (git archive REV)")
    parser.add_argument("--plot-only", action="store_true")
    parser.add_argument("--rollout", type=int, metavar="N",
                        help="instead: the rollout scenario over N fresh thin hosts (see --failing)")
    parser.add_argument("--failing", default="90,91,92,93,94",
                        help="host numbers made to fail in the rollout scenario (nvidia_drm loaded)")
    parser.add_argument("--keep", action="store_true",
                        help="measure the thin lab as it is (one size, its own): for before/after runs of chosen phases")
    args = parser.parse_args(argv)
    summary_path = args.out / f"{args.name}_summary.json"
    if args.plot_only:
        saved = json.loads(summary_path.read_text())
        plot(saved["phases"], args.out / f"{args.name}.png", f"migfleet controller cost, thin lab (commit {saved['commit'][:7]})")
        print_summary(saved["phases"])
        return 0
    logs = CACHE / "fleet-scale-logs"
    logs.mkdir(parents=True, exist_ok=True)
    code = CACHE / "fleet-scale-code"
    commit = snapshot(args.rev, code)
    log(f"deploy code: git archive {commit} in {code}")
    if args.rollout:
        return rollout_scenario(args.rollout, [int(i) for i in args.failing.split(",")], code, commit, logs, args.out)
    before = None
    if args.before:
        before = CACHE / "fleet-scale-code-before"
        log(f"deploy code of the *-before phases: git archive {snapshot(args.before, before)} in {before}")
    rows: list[dict] = []
    phases = tuple(p for p in args.phases.split(",") if p)
    for n in [int(s) for s in args.sizes.split(",")]:
        rows += measure_size(n, code, logs, phases, keep=args.keep, before=before)
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / f"{args.name}.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    summary = summarize(rows)
    summary_path.write_text(json.dumps({"commit": commit, "gpus": GPUS, "phases": summary}, indent=2) + "\n")
    plot(summary, args.out / f"{args.name}.png", f"migfleet controller cost, thin lab (commit {commit[:7]})")
    print_summary(summary)
    return 0 if all(s["ok"] for s in summary) else 1


if __name__ == "__main__":
    raise SystemExit(main())
