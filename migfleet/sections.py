"""One framing for many shell commands in one round trip, and its parser.

Each section prints "@@migfleet <name>", the command's output (stderr folded in, so errors are
quoted), then "@@migfleet rc=<exit code>". The whole command always exits 0, so one failing
section never hides the others.
"""
from __future__ import annotations

from collections.abc import Mapping

MARK = "@@migfleet"


class SectionError(ValueError):
    """Framed output that is cut, nested or unknown; the message quotes the line."""


def frame(commands: Mapping[str, str]) -> str:
    """One shell command running every {name: command} in its section."""
    # Each command runs in a subshell: an `exit` in it ends its section, not the round trip.
    return " ".join(f"echo '{MARK} {name}'; ( {cmd} ) 2>&1; echo \"{MARK} rc=$?\";"
                    for name, cmd in commands.items()) + " exit 0"


def split(text: str, names) -> dict[str, tuple[int, str]]:
    """Framed output -> {name: (exit code, output)}; every name in `names` must be there once."""
    names = tuple(names)
    out: dict[str, tuple[int, str]] = {}
    name: str | None = None
    body: list[str] = []
    for line in text.splitlines():
        if not line.startswith(MARK + " "):
            if name is None:
                if line.strip():
                    raise SectionError(f"output outside any section: {line!r}")
                continue
            body.append(line)
            continue
        word = line[len(MARK) + 1:].strip()
        if word.startswith("rc="):
            if name is None or not word[3:].isdigit():
                raise SectionError(f"end marker outside a section: {line!r}")
            out[name] = (int(word[3:]), "\n".join(body))
            name, body = None, []
        elif name is None and word in names and word not in out:
            name = word
        else:
            raise SectionError(f"unknown, repeated or nested section: {line!r}")
    missing = [n for n in names if n not in out]
    if name is not None or missing:
        last = text.strip().splitlines()[-1] if text.strip() else ""
        raise SectionError(f"output cut short: section(s) {', '.join(missing or [name])} incomplete "
                           f"(last line {last!r})")
    return out
