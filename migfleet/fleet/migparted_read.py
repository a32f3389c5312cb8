"""A mig-parted config file read with limits, as it may come from anywhere: its size, UTF-8, the
YAML's nesting and expanded size (aliases are followed once each, so an alias bomb is refused
before it is built) and a key given twice in one mapping (YAML keeps the last one silently).
Values quoted in messages are cut short. What the config means is migparted's.
"""
from __future__ import annotations

from collections.abc import Mapping

import yaml

from migfleet.inventory.errors import cut, shown

MAX_BYTES = 1 << 20         # a config file (NVIDIA's default config is 12 kB)
MAX_NODES = 100_000         # YAML values once every alias is expanded
MAX_SCALAR = 1000           # characters of one YAML value
MAX_DEPTH = 64              # nesting of YAML lists and mappings
SPEC_VERSION = "v1"


class MigPartedError(ValueError):
    """A config migfleet cannot take over or write; the message names the file and the config."""


def read(path: str) -> str:
    """A config file's text: at most MAX_BYTES, UTF-8. OSError when it cannot be read at all."""
    with open(path, "rb") as fh:
        raw = fh.read(MAX_BYTES + 1)
    if len(raw) > MAX_BYTES:
        raise MigPartedError(f"{path}: larger than {MAX_BYTES // 1024} KiB; a mig-parted config is a few kB")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise MigPartedError(f"{path}: line {line}: byte 0x{raw[exc.start]:02x} is not UTF-8; "
                             "a mig-parted config is UTF-8 text") from None


def _yaml_path(parts) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (("." if out else "") + cut(str(p), 40))
    return out or "(top)"


def _check_nodes(root, source: str) -> None:
    """Refuse a composed YAML document that is too deep, too big once aliases are expanded, holds an
    oversized value, or repeats a key in one mapping; each node is looked at once."""
    sizes: dict[int, int] = {}

    def size(node, parts, depth: int) -> int:
        if id(node) in sizes:
            return sizes[id(node)]
        if depth > MAX_DEPTH:
            raise MigPartedError(f"{source}: line {node.start_mark.line + 1}: {_yaml_path(parts)}: nests more than "
                                 f"{MAX_DEPTH} levels deep")
        sizes[id(node)] = MAX_NODES + 1      # a node that contains itself is past any limit
        total = 1
        if isinstance(node, yaml.ScalarNode):
            if len(node.value) > MAX_SCALAR:
                raise MigPartedError(f"{source}: line {node.start_mark.line + 1}: {_yaml_path(parts)}: a value of "
                                     f"{len(node.value)} characters is too long")
        elif isinstance(node, yaml.SequenceNode):
            for i, child in enumerate(node.value):
                total += size(child, parts + [i], depth + 1)
                if total > MAX_NODES:
                    break
        elif isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key, child in node.value:
                if isinstance(key, yaml.ScalarNode):
                    line = key.start_mark.line + 1
                    if key.value in seen:
                        raise MigPartedError(f"{source}: line {line}: {_yaml_path(parts)}: key {shown(key.value)} "
                                             f"is also on line {seen[key.value]}; YAML would keep only the last")
                    seen[key.value] = line
                total += size(key, parts, depth + 1) + size(child, parts + [getattr(key, "value", "?")], depth + 1)
                if total > MAX_NODES:
                    break
        if total > MAX_NODES:
            raise MigPartedError(f"{source}: line {node.start_mark.line + 1}: {_yaml_path(parts)}: more than "
                                 f"{MAX_NODES} values once its aliases are expanded (an alias bomb?)")
        sizes[id(node)] = total
        return total

    size(root, [], 0)


def _parse(text: str, source: str):
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None
        _check_nodes(root, source)
        return loader.construct_document(root)
    finally:
        loader.dispose()


def parse_yaml(text: str, source: str):
    """YAML text as Python data within this module's limits (also for other files read from anywhere:
    advise's capacity tables); MigPartedError naming `source`, and the line where known, otherwise."""
    try:
        return _parse(text, source)
    except yaml.YAMLError as exc:
        raise MigPartedError(f"{source}: not YAML: {cut(str(exc), 400)}") from None
    except RecursionError:
        raise MigPartedError(f"{source}: not YAML migfleet can read: it nests too deeply") from None
    except MigPartedError:
        raise
    except ValueError as exc:       # a value YAML's own constructors refuse (an int of 5000 digits)
        raise MigPartedError(f"{source}: a value cannot be read: {cut(str(exc), 200)}") from None


def load(text: str, source: str) -> dict:
    """A parsed mig-parted config; the shape checks mig-parted itself makes, worded for people."""
    if len(text) > MAX_BYTES:
        raise MigPartedError(f"{source}: larger than {MAX_BYTES // 1024} KiB; a mig-parted config is a few kB")
    spec = parse_yaml(text, source)
    if not isinstance(spec, Mapping) or spec.get("version") != SPEC_VERSION:
        raise MigPartedError(f"{source}: not a mig-parted config (wants `version: {SPEC_VERSION}` and `mig-configs`)")
    configs = spec.get("mig-configs")
    extra = sorted(set(spec) - {"version", "mig-configs"})
    if extra or not isinstance(configs, Mapping) or not configs:
        raise MigPartedError(f"{source}: wants only `version` and a non-empty `mig-configs`"
                             + (f" (unexpected: {cut(', '.join(map(str, extra)), 200)})" if extra else ""))
    return dict(spec)
