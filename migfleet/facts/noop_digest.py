"""The short answer of a host that has not changed: one digest of a read, computed by both sides.

The deploy machine keeps, per host, the value it parsed from the host's last full read and that
value's digest (`facts.view_cache`). Its next read sends the digest along (`ask`): the host runs
the read as always, parses it with the same code (`facts.read`, `mig.smi`: shipped in migfleet's
host code), digests what it parsed, and, when that equals the digest sent, answers
`unchanged <digest>` on one line, followed only by the sections the digest leaves out (the lock,
which is this connection's own). Otherwise, or when the host lacks python3 or the host code, or
cannot parse its own read, it answers the full read, and the deploy machine parses and plans as
without a digest.

What a digest covers is every field of the parsed value, found by walking its dataclasses
(`canonical`): a field added to `HostView` or `GpuState` is in the digest without a word here, so
an "unchanged" can only mean that the deploy machine would have parsed exactly the value it kept.
That value holds what drifts by hand: the MIG layout (GPU and compute instances, their placements,
MIG mode, the GPU processes), the containers (status, restart count, PID, labels), the digests of
the files migfleet wrote (boot record, units, run files, Envoy's documents), each synced tree
against its manifest (a file whose size or mtime differs from the manifest is hashed anew, so an
edited model file reads differently), unit states, packages, images, modules and prerequisites.

Two reads use it: the deploy's (`HOST`: facts.read, everything but the lock) and drift's and
`validate --live`'s (`SNAPSHOT`: the nvidia-smi sections; the others are sent as they are).

Standard library only: the host runs this module (`python3 -m migfleet.facts.noop_digest`).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import shlex
import sys
from collections.abc import Mapping, Sequence

from migfleet import sections

# Where the host keeps migfleet's host code (the deploy syncs it there; the boot unit runs it).
LIB_DIR = "/usr/local/lib/migfleet"
# In every digest: a change of what is digested, or how, never matches an older host's answer.
VERSION = 1
UNCHANGED = "unchanged "
HOST = "host"             # the deploy's read (facts.read.host_command); the lock is sent as read
SNAPSHOT = "snapshot"     # a read whose nvidia-smi sections are digested; its other sections are sent


def canonical(value):
    """`value` as plain JSON data, every dataclass field by name (sets sorted, mappings by key)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"@": type(value).__name__,
                **{f.name: canonical(getattr(value, f.name)) for f in dataclasses.fields(value)}}
    if isinstance(value, Mapping):
        return {"@map": sorted([json.dumps(canonical(k), sort_keys=True), canonical(v)] for k, v in value.items())}
    if isinstance(value, (set, frozenset)):
        return {"@set": sorted(json.dumps(canonical(v), sort_keys=True) for v in value)}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"no canonical form for {type(value).__name__}")


def digest_of(value) -> str:
    text = json.dumps([VERSION, canonical(value)], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def view_digest(view) -> str:
    """The deploy read's digest: the whole HostView but its lock (this connection's, sent as read)."""
    return digest_of(dataclasses.replace(view, lock=None))


def gpus_digest(gpus: Mapping) -> str:
    """A snapshot's digest: every GPU's state ({uuid: GpuState})."""
    return digest_of(dict(gpus))


def ask(command: str, mode: str, expect: str, lib_dir: str, args: Mapping) -> str:
    """`command` (a framed read), run on the host and answered short where its digest is `expect`.

    The read's output goes to a temporary file; python3 in `lib_dir` answers from it, and where it
    cannot (no python3, no host code, an older host code that fails), the file is sent as it is."""
    lib = shlex.quote(lib_dir)
    answer = (f"(cd {lib} && exec python3 -E -s -S -m migfleet.facts.noop_digest {shlex.quote(mode)} "
              f"{shlex.quote(expect)} {shlex.quote(json.dumps(dict(args), separators=(',', ':')))}) "
              '< "$t" 2>/dev/null')
    return (f't=$(mktemp 2>/dev/null) || t=/tmp/migfleet-read.$$; ( {command} ) > "$t" 2>&1; '
            f"if command -v python3 >/dev/null 2>&1 && [ -f {lib}/migfleet/facts/noop_digest.py ] && {answer}; "
            'then :; else cat "$t"; fi; rm -f "$t"; exit 0')


def _kept(sec: Mapping[str, tuple[int, str]], names: Sequence[str]) -> str:
    return "".join(f"{sections.MARK} {n}\n{sec[n][1]}\n{sections.MARK} rc={sec[n][0]}\n" for n in names)


def answer(mode: str, text: str, expect: str, args: Mapping) -> str | None:
    """The host's side: the short answer to the read `text`, or None (send the full read)."""
    if mode == HOST:
        from migfleet.facts import read
        sec = sections.split(text, read.SECTION_NAMES)
        got = view_digest(read.parse_sections(sec, args.get("units", ()), args.get("services", ())))
        kept: Sequence[str] = ("lock",)
    elif mode == SNAPSHOT:
        from migfleet.mig import smi
        names = tuple(args.get("sections", smi.NAMES))
        sec = sections.split(text, names)
        got = gpus_digest(smi.parse_sections(sec))
        kept = tuple(n for n in names if n not in smi.NAMES)
    else:
        return None
    return f"{UNCHANGED}{got}\n{_kept(sec, kept)}" if got == expect else None


@dataclasses.dataclass(frozen=True)
class Unchanged:
    """A host's short answer to the deploy's read: its digest and its lock, as read."""
    digest: str
    lock: object = None         # facts.lock.LockState, or None when the read took no look at the lock


def split_unchanged(text: str) -> tuple[str, str]:
    """A short answer -> (digest, the framed sections sent with it); ValueError quoting a bad first line."""
    first, _, rest = text.partition("\n")
    digest = first[len(UNCHANGED):].strip()
    if not first.startswith(UNCHANGED) or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ValueError(f"unexpected short answer {first[:200]!r}")
    return digest, rest


def parse_unchanged(lines: Sequence[str]) -> Unchanged:
    """The deploy read's short answer (its output lines) -> Unchanged."""
    from migfleet.facts import lock as host_lock
    digest, rest = split_unchanged("\n".join(lines))
    return Unchanged(digest, host_lock.parse(sections.split(rest, ("lock",))["lock"][1]))


def main(argv: Sequence[str]) -> int:
    """python3 -m migfleet.facts.noop_digest MODE EXPECT ARGS_JSON < the read's output"""
    text = sys.stdin.read()
    try:
        short = answer(argv[1], text, argv[2], json.loads(argv[3]))
    except Exception:       # noqa: BLE001 (whatever the host's read holds, the full read is the answer)
        short = None
    sys.stdout.write(short if short is not None else text)
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
