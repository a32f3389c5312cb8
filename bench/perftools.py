"""perf_analyzer for the benchmarks: the binary for Debian 12 (`perf_analyzer_argv`), and one
measurement with it (`measure`, `parse_perf_csv`: migfleet.measure.perf's, their one home).

Its wheel needs glibc 2.38, so on Debian 12 it runs on Debian trixie's libc.

Downloaded once into the cache (`MIGFLEET_BENCH_CACHE`, default /var/cache/migfleet-bench):
the perf-analyzer wheel for manylinux_2_38 (pip download), and trixie's libc6, libstdc++6 and
libgcc-s1 (apt-get download through a private sources list, signed by the Debian archive keyring),
unpacked with `dpkg -x`. perf_analyzer is then started through that libc's own ld.so; libz and
libssl still come from the machine.
"""
from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Sequence

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))     # the checkout's migfleet
from migfleet.measure import perf  # noqa: E402

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
    """migfleet.measure.perf.measure_argv, started by `prefix` (default: `perf_analyzer_argv()`)."""
    return perf.measure_argv(model, url, protocol, concurrency, window_ms, out, prefix or perf_analyzer_argv())


def measure(model: str, url: str, protocol: str, concurrency: int, window_ms: int, workdir: Path,
            prefix: Sequence[str] = (), wrap: Sequence[str] = ()) -> dict:
    """migfleet.measure.perf.measure (one run, parsed), started by `prefix` (default: `perf_analyzer_argv()`)."""
    return perf.measure(model, url, protocol, concurrency, window_ms, workdir, prefix or perf_analyzer_argv(), wrap)


parse_perf_csv = perf.parse_perf_csv


if __name__ == "__main__":
    print(" ".join(perf_analyzer_argv()))
