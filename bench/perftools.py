"""perf_analyzer: one measurement (`measure`: model, url, protocol, concurrency, window -> rate and
latencies, `parse_perf_csv`), and the binary for Debian 12 (`perf_analyzer_argv`).

Its wheel needs glibc 2.38, so on Debian 12 it runs on Debian trixie's libc.

Downloaded once into the cache (`MIGFLEET_BENCH_CACHE`, default /var/cache/migfleet-bench):
the perf-analyzer wheel for manylinux_2_38 (pip download), and trixie's libc6, libstdc++6 and
libgcc-s1 (apt-get download through a private sources list, signed by the Debian archive keyring),
unpacked with `dpkg -x`. perf_analyzer is then started through that libc's own ld.so; libz and
libssl still come from the machine.
"""
from __future__ import annotations

import csv
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Sequence

CACHE = Path(os.environ.get("MIGFLEET_BENCH_CACHE", "/var/cache/migfleet-bench"))
PERF_ANALYZER_VERSION = "2.60.0"
TRIXIE_PACKAGES = ("libc6", "libstdc++6", "libgcc-s1")
DEBIAN_MIRROR = "http://deb.debian.org/debian"
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"


def _run(argv: list[str], cwd: Path) -> None:
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed (rc={proc.returncode}): {proc.stderr.strip()[-2000:]}")


def _fetch_wheel(cache: Path) -> Path:
    wheels = cache / "wheels"
    found = sorted(wheels.glob(f"perf_analyzer-{PERF_ANALYZER_VERSION}-*.whl"))
    if not found:
        wheels.mkdir(parents=True, exist_ok=True)
        _run([sys.executable, "-m", "pip", "download", f"perf-analyzer=={PERF_ANALYZER_VERSION}",
              "--platform", "manylinux_2_38_x86_64", "--only-binary=:all:", "--no-deps",
              "-d", str(wheels), "-q"], cwd=cache)
        found = sorted(wheels.glob(f"perf_analyzer-{PERF_ANALYZER_VERSION}-*.whl"))
    if not found:
        raise RuntimeError(f"pip download put no perf_analyzer {PERF_ANALYZER_VERSION} wheel in {wheels}")
    return found[-1]


def _fetch_trixie_libc(cache: Path) -> Path:
    root = cache / "trixie-root"
    libdir = root / "usr" / "lib" / "x86_64-linux-gnu"
    if (libdir / "ld-linux-x86-64.so.2").exists() and (libdir / "libstdc++.so.6").exists():
        return libdir
    apt = cache / "apt"
    (apt / "lists" / "partial").mkdir(parents=True, exist_ok=True)
    (apt / "cache" / "archives" / "partial").mkdir(parents=True, exist_ok=True)
    (apt / "sources.list").write_text(f"deb [signed-by={KEYRING}] {DEBIAN_MIRROR} trixie main\n")
    options = []
    for key, value in (("Dir::Etc::SourceList", apt / "sources.list"), ("Dir::Etc::SourceParts", "/dev/null"),
                       ("Dir::State::Lists", apt / "lists"), ("Dir::Cache", apt / "cache"),
                       ("Dir::State::status", "/dev/null"), ("APT::Sandbox::User", "root")):
        options += ["-o", f"{key}={value}"]
    _run(["apt-get", *options, "update"], cwd=cache)
    debs = cache / "debs"
    debs.mkdir(exist_ok=True)
    _run(["apt-get", *options, "download", *TRIXIE_PACKAGES], cwd=debs)
    for deb in sorted(debs.glob("*.deb")):
        _run(["dpkg", "-x", str(deb), str(root)], cwd=cache)
    if not (libdir / "ld-linux-x86-64.so.2").exists():
        raise RuntimeError(f"no ld-linux-x86-64.so.2 in {libdir} after unpacking {sorted(debs.iterdir())}")
    return libdir


def perf_analyzer_argv(cache: Path = CACHE) -> list[str]:
    """The argv prefix that starts perf_analyzer on this machine (fetching it on first use)."""
    binary = cache / "perf_analyzer" / "perf_analyzer" / "bin" / "perf_analyzer"
    if not binary.exists():
        wheel = _fetch_wheel(cache)
        with zipfile.ZipFile(wheel) as z:
            z.extractall(cache / "perf_analyzer")
        binary.chmod(0o755)
    libdir = _fetch_trixie_libc(cache)
    return [str(libdir / "ld-linux-x86-64.so.2"), "--library-path", str(libdir), str(binary)]


def measure_argv(model: str, url: str, protocol: str, concurrency: int, window_ms: int, out: Path,
                 prefix: Sequence[str] = ()) -> list[str]:
    """One perf_analyzer run of `model` at `url` (host:port) over `protocol` (http or grpc), writing
    its CSV to `out`. `prefix` starts perf_analyzer (default: `perf_analyzer_argv()`).

    Three fixed windows with the stability check switched off: every run takes the same time, and
    points that never settle (a noisy shared machine, a model with a long tail) still measure.
    """
    if protocol not in ("http", "grpc"):
        raise ValueError(f"protocol must be http or grpc, not {protocol!r}")
    return [*(prefix or perf_analyzer_argv()), "-m", model, "-u", url, "-i", protocol,
            "--concurrency-range", str(concurrency), "--measurement-interval", str(window_ms),
            "--max-trials", "3", "--stability-percentage", "999", "-f", str(out)]


def measure(model: str, url: str, protocol: str, concurrency: int, window_ms: int, workdir: Path,
            prefix: Sequence[str] = (), wrap: Sequence[str] = ()) -> dict:
    """Run perf_analyzer once (`wrap`, e.g. `ip netns exec NS`, goes before it) -> `parse_perf_csv`'s
    row. RuntimeError with perf_analyzer's output when it fails; its log stays in `workdir`."""
    tag = f"{model}-{url.replace(':', '_').replace('/', '_')}-{protocol}-c{concurrency}"
    out = workdir / f"pa-{tag}.csv"
    out.unlink(missing_ok=True)
    argv = [*wrap, *measure_argv(model, url, protocol, concurrency, window_ms, out, prefix)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=window_ms * 6 / 1000 + 60)
    (workdir / f"pa-{tag}.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(f"perf_analyzer failed (rc={proc.returncode}):\n{proc.stdout[-3000:]}{proc.stderr[-2000:]}")
    return parse_perf_csv(out.read_text())


def parse_perf_csv(text: str) -> dict:
    """perf_analyzer's -f CSV (one concurrency) -> concurrency, throughput (inferences/s), latencies
    p50/p90/p95/p99 in ms and the client/server split in µs. ValueError quoting the text otherwise."""
    rows = list(csv.DictReader(text.splitlines()))
    if len(rows) != 1:
        raise ValueError(f"expected one perf_analyzer row, got {len(rows)}: {text!r}")
    r = rows[0]
    try:
        return {
            "concurrency": int(r["Concurrency"]),
            "throughput_infer_s": float(r["Inferences/Second"]),
            **{f"p{q}_ms": int(r[f"p{q} latency"]) / 1000 for q in (50, 90, 95, 99)},
            "client_send_us": int(r["Client Send"]),
            "network_server_us": int(r["Network+Server Send/Recv"]),
            "server_queue_us": int(r["Server Queue"]),
            "server_compute_infer_us": int(r["Server Compute Infer"]),
        }
    except (KeyError, ValueError, TypeError) as e:
        raise ValueError(f"unexpected perf_analyzer CSV ({e!r}): {text!r}") from None


if __name__ == "__main__":
    print(" ".join(perf_analyzer_argv()))
