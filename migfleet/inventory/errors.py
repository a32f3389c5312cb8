"""What a rejected inventory is told: `host: $.path: reason`, one line per problem.

Text from the inventory is shown so that it cannot mislead: characters outside printable ASCII
are escaped (a Cyrillic "А" in a model name must not read as the Latin "A" it imitates) with a
note naming them, and values of keys that look secret, or that look like a secret themselves
(`NGC_API_KEY=...`, a private key), are never shown. Everything shown is bounded: a value is cut to
a few dozen characters, a line to a few hundred, and a report to about 8 kB however many errors.
"""
from __future__ import annotations

import re
import reprlib
import unicodedata
from dataclasses import dataclass

# Key names whose values are never echoed (ssh_password, ssh_key_password, _sudo_password, ...).
SECRET_KEY = re.compile(r"key|token|password|passwd|secret|credential|passphrase", re.IGNORECASE)
HIDDEN = "(value hidden)"
# Text that is itself a secret, whatever key holds it: NAME=value where NAME looks secret, a PEM
# block, an NGC API key, a GitHub token, an AWS access key ID.
SECRET_TEXT = re.compile(r"(key|token|password|passwd|secret|credential|passphrase)\w*\s*[=:]|-----BEGIN |"
                         r"\bnvapi-|\bgh[pousr]_[A-Za-z0-9]{20}|\bAKIA[0-9A-Z]{16}", re.IGNORECASE)
SECRET_SCAN = 2000          # strings looked at per value (a bounded walk)

_repr = reprlib.Repr()
_repr.maxstring, _repr.maxother, _repr.maxlist, _repr.maxdict, _repr.maxlevel = 48, 48, 6, 6, 3
_repr.maxlong = 24
BIG_INT = 10 ** 18
LINE_PARTS = {"host": 80, "path": 200, "reason": 700}     # characters of each part of a line, at most
REPORT_BYTES = 8000                                         # a report's lines, then "and N more"


def _digits(n: int) -> int:
    return int(abs(n).bit_length() * 0.30103) + 1


def shown(value) -> str:
    """repr() of an inventory value, cut to a few dozen characters, never failing on odd objects,
    and hidden when it looks like a secret."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= BIG_INT:
        # str() of a huge int is slow, and refused past 4300 digits
        return f"<an integer of about {_digits(value)} digits>"
    if looks_secret(value):
        return HIDDEN
    try:
        return _repr.repr(value)
    except Exception:       # a user object whose __repr__ raises still gets a line of its own
        return f"<{type(value).__name__} object>"


def _strings(value, budget: list[int]):
    """Strings inside a value (keys included), at most SECRET_SCAN of them, without recursion."""
    stack = [value]
    while stack and budget[0] > 0:
        item = stack.pop()
        budget[0] -= 1
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(list(item.keys())[:SECRET_SCAN])
            stack.extend(list(item.values())[:SECRET_SCAN])
        elif isinstance(item, (list, tuple, set, frozenset)):
            stack.extend(list(item)[:SECRET_SCAN])


def looks_secret(value) -> bool:
    """Whether a value holds text that looks like a secret (NGC_API_KEY=..., a private key, a token)."""
    try:
        return any(SECRET_TEXT.search(s[:100_000]) for s in _strings(value, [SECRET_SCAN]))
    except Exception:       # a container whose iteration raises
        return False


def bare(text: str, limit: int = 60) -> str:
    """Text from the inventory shown without quotes (a model name, a key): cut, or hidden if it looks secret."""
    return HIDDEN if looks_secret(text) else cut(text, limit)


def cut(text: str, limit: int) -> str:
    """Text of at most `limit` characters: its start, " ... ", its end."""
    if len(text) <= limit:
        return text
    keep = max(limit - 5, 2)
    return text[:keep - keep // 3] + " ... " + text[len(text) - keep // 3:]


def _escape(ch: str) -> str:
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def escaped(text: str) -> str:
    """Text with every character outside printable ASCII escaped."""
    return "".join(ch if " " <= ch <= "~" else _escape(ch) for ch in text)


def odd_note(text: str) -> str:
    """" (contains non-ASCII character U+0410 CYRILLIC CAPITAL LETTER A)", or "" for plain text."""
    odd = [ch for ch in dict.fromkeys(text) if not (" " <= ch <= "~")]
    if not odd:
        return ""
    names = ", ".join(f"U+{ord(ch):04X} {unicodedata.name(ch, 'control character')}" for ch in odd[:3])
    more = f" and {len(odd) - 3} more" if len(odd) > 3 else ""
    kind = "non-ASCII character" if any(ord(ch) > 0x7e for ch in odd) else "control character"
    return f" (contains {kind}{'s' if len(odd) > 1 else ''} {names}{more})"


def plain(text: str) -> str:
    """Text with every character outside printable ASCII escaped, and a note naming them."""
    return escaped(text) + odd_note(text)


def is_secret_path(path: str) -> bool:
    """Whether any key on a JSON path ($.a.b[0].c) looks like it holds a secret."""
    return any(SECRET_KEY.search(part) for part in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", path[1:]))


@dataclass(frozen=True)
class InventoryError:
    host: str
    path: str       # JSON path in the host's data, e.g. $.mig_layout[1].instances[0].profile
    reason: str

    def __str__(self) -> str:
        host, path, reason = (cut(getattr(self, k), n) for k, n in LINE_PARTS.items())
        note = odd_note(host + path + reason)
        return f"{escaped(host)}: {escaped(path)}: {escaped(reason)}{note}"


def format_errors(errors, limit: int = REPORT_BYTES) -> str:
    """One line per error: `host: $.path: reason` (or a load problem's text); past `limit` characters,
    how many more there are."""
    lines, size = [], 0
    errors = list(errors)
    for n, e in enumerate(errors):
        line = str(e)
        if lines and size + len(line) > limit:
            lines.append(f"... and {len(errors) - n} more error(s), not shown: fix these first")
            break
        lines.append(line)
        size += len(line) + 1
    return "\n".join(lines)


def json_path(parts) -> str:
    """JSON path of a sequence of keys and indexes, e.g. ("a", 0, "b") -> $.a[0].b."""
    out = "$"
    for p in parts:
        if isinstance(p, int) and not isinstance(p, bool):
            out += f"[{p}]"
        elif isinstance(p, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", p):
            out += f".{p}"
        else:
            out += f"[{shown(p)}]"
    return out
