"""JSON Schema check of one host's data, and unknown keys of any name.

Every file in migfleet/schemas/ is loaded into one registry; inventory.v1.json is the top. The
validator is Draft 2020-12 with three Python-side corrections: an integer is an int (7.0 and
True are not), a number is finite (NaN passes every comparison), and a pattern ending in `$`
really ends the string (Python's `$` also matches before a trailing newline).
"""
from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from migfleet.inventory.errors import HIDDEN, InventoryError, bare, is_secret_path, json_path, shown

SCHEMA_DIR = Path(__file__).resolve().parents[1] / "schemas"
TOP_SCHEMA = "https://migfleet.dev/schemas/inventory.v1.json"


def _is_integer(checker, value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(checker, value) -> bool:
    # an int is always finite (math.isfinite would overflow converting 10**400 to a float)
    return isinstance(value, int) and not isinstance(value, bool) or isinstance(value, float) and math.isfinite(value)


@lru_cache(maxsize=None)
def _end_anchored(pattern: str) -> re.Pattern:
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + r"\Z"
    return re.compile(pattern)


def _pattern(validator, pattern, instance, schema):
    if validator.is_type(instance, "string") and not _end_anchored(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


_Validator = validators.extend(
    Draft202012Validator,
    validators={"pattern": _pattern},
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine_many(
        {"integer": _is_integer, "number": _is_number}),
)


@lru_cache(maxsize=1)
def _schemas() -> tuple[Draft202012Validator, frozenset[str]]:
    docs = [json.loads(p.read_text()) for p in sorted(SCHEMA_DIR.glob("*.json"))]
    for d in docs:
        # Without "$schema", a $ref keeps our validator class; with it, jsonschema would switch to
        # the stock Draft 2020-12 validator and drop the corrections above.
        d.pop("$schema", None)
    registry = Registry().with_resources((d["$id"], Resource(d, DRAFT202012)) for d in docs)
    by_id = {d["$id"]: d for d in docs}
    top = by_id[TOP_SCHEMA]
    declared = set(top.get("properties", {}))
    for part in top.get("allOf", ()):
        ref = TOP_SCHEMA.rsplit("/", 1)[0] + "/" + part["$ref"]
        declared |= set(by_id[ref].get("properties", {}))
    return _Validator(top, registry=registry), frozenset(declared)


def _reason(err: ValidationError, secret: bool) -> str:
    value = HIDDEN if secret else shown(err.instance)
    custom = err.schema.get("errorMessage", {}).get(err.validator) if isinstance(err.schema, dict) else None
    if custom:
        # Our schemas word some failures themselves ("errorMessage", which jsonschema ignores).
        return f"{value} {custom}" if custom.startswith("is ") or custom.startswith("must ") else custom
    if err.validator == "type" and isinstance(err.instance, float) and not math.isfinite(err.instance):
        return f"{value} is not a finite number"
    if err.validator == "type" and isinstance(err.instance, float) and "integer" in str(err.validator_value):
        return f"{value} is not an integer (write {int(err.instance)}, not {err.instance!r})" \
            if err.instance.is_integer() and abs(err.instance) < 1e15 and not secret else f"{value} is not an integer"
    # jsonschema quotes the whole value with repr(): bounded and masked here instead.
    try:
        text = err.message.replace(repr(err.instance), value, 1)
    except Exception:
        text = f"{value} is not valid ({err.validator})"
    if value == HIDDEN and HIDDEN not in text:
        return f"{HIDDEN} is not valid ({err.validator})"
    return text


def _leaves(err: ValidationError) -> list[ValidationError]:
    """The error itself, or for oneOf/anyOf the most relevant failure of its branches."""
    custom = err.schema.get("errorMessage", {}).get(err.validator) if isinstance(err.schema, dict) else None
    if err.context and not custom:
        return [best_match(err.context)]
    return [err]


def _from_branch(err: ValidationError) -> bool:
    return any(part in ("then", "else") for part in err.relative_schema_path) or \
        any(part in ("then", "else") for part in err.schema_path)


def schema_errors(host: str, data: Mapping) -> list[InventoryError]:
    """Schema errors and unknown keys of one host's merged data."""
    validator, declared = _schemas()
    out: list[InventoryError] = []
    bad_keys = [k for k in data if not isinstance(k, str)]
    for key in bad_keys:
        out.append(InventoryError(host, "$", f"data key {shown(key)} is not a string"))
    clean = {k: v for k, v in data.items() if isinstance(k, str)}
    try:
        found = [leaf for err in validator.iter_errors(clean) for leaf in _leaves(err)]
    except RecursionError:
        return out + [InventoryError(host, "$", "data nests too deeply (a list or dict that contains itself?)")]
    paths = [(e, json_path(e.absolute_path)) for e in found]
    seen: set[tuple[str, str]] = set()
    for err, path in paths:
        # A branch's "required" is noise when the object already has an error of its own: a rule
        # with "mig": "no" fails the boolean type, and need not also be told instances are missing.
        if err.validator == "required" and _from_branch(err) and any(
                other is not err and (p == path or p.startswith(path + ".") or p.startswith(path + "["))
                for other, p in paths):
            continue
        item = (path, _reason(err, is_secret_path(path)))
        if item not in seen:
            seen.add(item)
            out.append(InventoryError(host, *item))
    for key in clean:
        if key not in declared:
            out.append(InventoryError(host, json_path([key]), unknown_key(key, declared)))
    return out


def unknown_key(key: str, declared) -> str:
    close = difflib.get_close_matches(key, sorted(declared), n=1, cutoff=0.75)
    if not close and not key.isascii():
        # A look-alike letter or two: compare with the non-ASCII characters taken out.
        folded = "".join(ch if ch.isascii() else "?" for ch in key)
        close = difflib.get_close_matches(folded, sorted(declared), n=1, cutoff=0.75)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return f"unknown key {bare(key)}{hint}"
