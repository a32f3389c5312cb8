"""Rollout settings (migfleet/schemas/rollout.v1.json), read from every host's data; the hosts
must agree on them. Read here for `migfleet rollout` (fleet.rollout) and for validate alike.

  rollout_canary          hosts in the first batch; any canary failure stops the rollout
  rollout_batch_size      hosts per later batch, or
  rollout_batch_percent   percent of all hosts per later batch (rounded up); neither: one batch
  rollout_max_failures    failures tolerated over the whole rollout: a count or "N%" of all hosts
                          (rounded down); the rollout stops after the batch that passes it
"""
from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from migfleet.inventory.errors import shown
from migfleet.schema_defaults import defaults

KEYS = ("rollout_canary", "rollout_batch_size", "rollout_batch_percent", "rollout_max_failures")
_DEFAULT = defaults("rollout")


class RolloutError(ValueError):
    pass


@dataclass(frozen=True)
class RolloutSettings:
    canary: int = _DEFAULT["rollout_canary"]
    batch_size: int | None = _DEFAULT["rollout_batch_size"]
    batch_percent: float | None = _DEFAULT["rollout_batch_percent"]
    max_failures: int | str = _DEFAULT["rollout_max_failures"]


@dataclass(frozen=True)
class Problem:
    host: str
    key: str
    reason: str


def _value(v) -> str:
    return "unset" if v is None else shown(v)


def problems(datas: Mapping[str, Mapping]) -> list[Problem]:
    """What the hosts' rollout settings get wrong together: batch size and percent both set; hosts
    that disagree (the most common settings are taken as meant; every other host is told how it
    differs)."""
    out = []
    values = {}
    for host, data in datas.items():
        if data.get("rollout_batch_size") is not None and data.get("rollout_batch_percent") is not None:
            out.append(Problem(host, "rollout_batch_percent", "set rollout_batch_size or rollout_batch_percent, not both"))
        values[host] = tuple(data.get(k) for k in KEYS)
    if len(set(values.values())) > 1:
        common, count = Counter(values.values()).most_common(1)[0]
        ref = next(h for h, v in values.items() if v == common)
        others = f" and {count - 1} other host(s)" if count > 1 else ""
        for host, mine in values.items():
            for key, have, want in zip(KEYS, mine, common):
                if have != want:
                    out.append(Problem(host, key, f"{_value(have)} here, {_value(want)} on {ref}{others}: all hosts "
                                                  "must agree on rollout settings (set them in group_data/all.py)"))
    return out


def settings_from_data(datas: Mapping[str, Mapping]) -> RolloutSettings:
    """Rollout settings from every host's merged data (the schema's defaults where unset)."""
    found = problems(datas)
    if found:
        raise RolloutError("; ".join(f"{p.host}: {p.key}: {p.reason}" for p in found))
    given = next(iter(datas.values()), {})
    settings = RolloutSettings(**{k.removeprefix("rollout_"): _DEFAULT[k] if given.get(k) is None else given[k]
                                  for k in KEYS})
    check(settings)
    return settings


def check(s: RolloutSettings) -> None:
    if not isinstance(s.canary, int) or s.canary < 0:
        raise RolloutError(f"rollout_canary must be a count >= 0, got {s.canary!r}")
    if s.batch_size is not None and (not isinstance(s.batch_size, int) or s.batch_size < 1):
        raise RolloutError(f"rollout_batch_size must be a count >= 1, got {s.batch_size!r}")
    if s.batch_percent is not None and not (0 < s.batch_percent <= 100):
        raise RolloutError(f"rollout_batch_percent must be in (0, 100], got {s.batch_percent!r}")
    failure_budget(1, s.max_failures)


def failure_budget(total_hosts: int, max_failures: int | str) -> int:
    """How many host failures the rollout tolerates."""
    if isinstance(max_failures, bool):
        raise RolloutError(f"rollout_max_failures must be a count or 'N%', got {max_failures!r}")
    if isinstance(max_failures, int):
        if max_failures < 0:
            raise RolloutError(f"rollout_max_failures must be >= 0, got {max_failures}")
        return max_failures
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*%\s*", str(max_failures))
    if not m or float(m[1]) > 100:
        raise RolloutError(f"rollout_max_failures must be a count or 'N%' (0-100), got {max_failures!r}")
    return math.floor(float(m[1]) * total_hosts / 100 + 1e-9)
