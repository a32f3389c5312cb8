"""Size limits on host data, checked before anything else looks at it.

Inventory data is Python: a value can be a 10**400 integer, a string of megabytes, a list that
holds itself, or lists sharing one another a million times over. Each top-level key is walked
once, without recursion and with a budget of nodes, and a key past any limit is reported and left
out of every further check (the schema would otherwise print it whole, or take minutes).
"""
from __future__ import annotations

from collections.abc import Mapping

from migfleet.inventory.errors import InventoryError, json_path

MAX_DEPTH = 24              # nesting of lists and dicts
MAX_ITEMS = 1000            # items of one list or dict
MAX_TEXT = 4096             # characters of one string (PATH_MAX)
MAX_NODES = 20000           # values under one top-level key, counting shared ones each time
MAX_INT = 2 ** 63           # what any count, port, time or index of the data could be


def _problem(value) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and not -MAX_INT < value < MAX_INT:
        return f"an integer of about {int(value.bit_length() * 0.30103) + 1} digits is too large"
    if isinstance(value, (str, bytes)) and len(value) > MAX_TEXT:
        return f"a text of {len(value)} characters is too long (at most {MAX_TEXT})"
    if isinstance(value, (list, tuple, set, frozenset, dict)) and len(value) > MAX_ITEMS:
        return f"{len(value)} items are too many (at most {MAX_ITEMS} in one list or mapping)"
    return None


def _children(value):
    if isinstance(value, dict):
        return list(value.items())
    if isinstance(value, (list, tuple)):
        return list(enumerate(value))
    if isinstance(value, (set, frozenset)):
        return [(i, v) for i, v in enumerate(sorted(value, key=repr) if len(value) < 50 else value)]
    return []


def _first_problem(key: str, value) -> tuple[str, str] | None:
    """(JSON path, reason) of the first limit the value passes, or None."""
    stack = [((key,), value)]
    nodes = 0
    while stack:
        parts, item = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            return json_path((key,)), (f"holds more than {MAX_NODES} values (lists sharing one another, "
                                       "or a list that contains itself?)")
        if len(parts) > MAX_DEPTH:
            return json_path(parts[:MAX_DEPTH + 1]), (f"nests more than {MAX_DEPTH} levels deep (a list or "
                                                      "dict that contains itself?)")
        reason = _problem(item)
        if reason:
            return json_path(parts), reason
        for sub, child in reversed(_children(item)):
            if isinstance(item, dict):
                # a key is a value too (a 10**400 key must not reach a message)
                if (why := _problem(sub)) is not None:
                    return json_path(parts), f"a key: {why}"
                if not isinstance(sub, (str, int)) or isinstance(sub, bool):
                    sub = "?"
            stack.append((parts + (sub,), child))
    return None


def limit_errors(host: str, data: Mapping) -> tuple[list[InventoryError], set[str]]:
    """Errors of keys past a size limit, and those keys (left out of every further check)."""
    out, bad = [], set()
    if len(data) > MAX_ITEMS:
        return [InventoryError(host, "$", f"{len(data)} keys are too many (at most {MAX_ITEMS})")], set(data)
    for key, value in data.items():
        if not isinstance(key, str):
            continue        # the schema check names keys that are not strings
        if len(key) > MAX_TEXT:
            out.append(InventoryError(host, "$", f"a key of {len(key)} characters is too long"))
            bad.add(key)
            continue
        found = _first_problem(key, value)
        if found:
            out.append(InventoryError(host, *found))
            bad.add(key)
    return out, bad
