"""The host's side of the short answer: CPU of one `python3 -m migfleet.facts.noop_digest` answer,
for two deploy codes side by side (interleaved runs, the same read).

The read is a thin lab host's own (thin-h1's, as the mig_only deploy reads it; `python -m lab up
--thin`). Each code is `git archive REV` of migfleet/, run as the host runs it (the python3 flags of
`noop_digest.ask` at that revision), answering a digest that does not match, so every run parses
and digests the whole read and sends it back in full.

    .venv/bin/python bench/host_answer.py --before REV [--rev HEAD] [--runs 15]
"""
from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
THIN_DIR = Path("/var/lib/migfleet-thin")


def host_read() -> tuple[str, dict]:
    """thin-h1's read (the mig_only deploy's, lock looked at, not taken) and the answer's arguments."""
    sys.path.insert(0, str(REPO))
    from migfleet.deploys.context import GPU_HOLDERS, LIB_DIR, UNITS
    from migfleet.facts import lock, read
    from migfleet.mig import boot
    command = read.host_command(files=(boot.RECORD_PATH, f"/etc/systemd/system/{UNITS[0]}"), trees=(LIB_DIR,),
                                units=UNITS[:1], services=GPU_HOLDERS, lock=lock.command("bench@host", take=False))
    text = subprocess.run(["ssh", "-F", str(THIN_DIR / "ssh_config"), "-o", "BatchMode=yes", "thin-h1", "sh -s"],
                          input=command, capture_output=True, text=True, check=True, timeout=120).stdout
    return text, {"units": list(UNITS[:1]), "services": list(GPU_HOLDERS)}


def code(rev: str, dest: Path) -> list[str]:
    """migfleet/ of `rev` in dest; the python3 command line its ask() runs."""
    archive = subprocess.run(["git", "archive", rev, "migfleet"], cwd=REPO, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    ask = (dest / "migfleet/facts/noop_digest.py").read_text()
    flags = re.search(r"exec python3 ((?:-\w+ )+)-m migfleet\.facts\.noop_digest", ask).group(1).split()
    return ["python3", *flags, "-m", "migfleet.facts.noop_digest"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", required=True)
    parser.add_argument("--rev", default="HEAD")
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    text, answer_args = host_read()
    with tempfile.TemporaryDirectory() as tmp:
        codes = {}
        for label, rev in (("before", args.before), ("after", args.rev)):
            (Path(tmp) / label).mkdir()
            codes[label] = (code(rev, Path(tmp) / label), Path(tmp) / label)
            subprocess.run([*codes[label][0][:-2], "-c", "import migfleet.facts.noop_digest, migfleet.facts.read"],
                           cwd=codes[label][1], check=True)     # byte code written once, as on a host
        cpu = dict.fromkeys(codes, 0.0)
        for _ in range(args.runs):
            for label, (argv, cwd) in codes.items():
                r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
                out = subprocess.run([*argv, "host", "0" * 64, json.dumps(answer_args)], cwd=cwd, input=text,
                                     capture_output=True, text=True, check=True).stdout
                r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu[label] += r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime
                if out != text:
                    raise SystemExit(f"{label}: the answer to a digest that does not match is not the full read")
    for label, total in cpu.items():
        print(f"{label:<7} {args.before if label == 'before' else args.rev:<12} "
              f"{1000 * total / args.runs:6.1f} ms host CPU per answer (mean of {args.runs}, interleaved)")
    print(f"after / before: {cpu['after'] / cpu['before']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
