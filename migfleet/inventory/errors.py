"""What a rejected inventory is told: `host: $.path: reason`, one line per problem.

Text from the inventory is shown so that it cannot mislead: characters outside printable ASCII
are escaped (a Cyrillic "А" in a model name must not read as the Latin "A" it imitates) with a
note naming them, and values of keys that look secret are never shown.
"""
from __future__ import annotations

import re
import reprlib
import unicodedata
from dataclasses import dataclass

# Key names whose values are never echoed (ssh_password, ssh_key_password, _sudo_password, ...).
SECRET_KEY = re.compile(r"key|token|password|passwd|secret|credential|passphrase", re.IGNORECASE)
HIDDEN = "(value hidden)"

_repr = reprlib.Repr()
_repr.maxstring, _repr.maxother, _repr.maxlist, _repr.maxdict, _repr.maxlevel = 80, 80, 8, 8, 3


def shown(value) -> str:
    """repr() of an inventory value, bounded in size, and never failing on odd objects."""
    try:
        return _repr.repr(value)
    except Exception:       # a user object whose __repr__ raises still gets a line of its own
        return f"<{type(value).__name__} object>"


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
        note = odd_note(self.host + self.path + self.reason)
        return f"{escaped(self.host)}: {escaped(self.path)}: {escaped(self.reason)}{note}"


def format_errors(errors) -> str:
    """One line per error: `host: $.path: reason`."""
    return "\n".join(str(e) for e in errors)


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
