"""Measured demand: requests/s, queue and compute time per model and host; memory per MIG instance.

Read from Prometheus's HTTP API (`/api/v1/query`), or from a file holding the same answers
(`{"<query name>": <the API's JSON answer>, ...}`, what `--save-demand` writes). Triton's series
carry the host and the MIG instance (docs/METRICS.md); dcgm-exporter's `DCGM_FI_DEV_FB_USED` is
joined on the GPU's UUID and `GPU_I_ID`, never on the profile name, whose wording can differ from
nvidia-smi's (NVIDIA/dcgm-exporter#544, #713).
"""
from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field

from migfleet.inventory.errors import cut, shown

WINDOW = re.compile(r"(?:\d+(?:ms|s|m|h|d|w|y))+\Z")
MAX_BYTES = 16 << 20        # one answer; a fleet of thousands of instances stays far below


class DemandError(ValueError):
    """Demand that cannot be read; one line naming the source and the reason."""


def queries(window: str) -> dict[str, str]:
    """The PromQL behind each part of the demand, over `window` (a Prometheus duration)."""
    if not WINDOW.match(window):
        raise DemandError(f"--window {shown(window)} is not a Prometheus duration such as 30m, 1h or 1d")
    fb = (f'max by (gpu_uuid, gi) (label_replace(label_replace(max_over_time(DCGM_FI_DEV_FB_USED[{window}]), '
          f'"gpu_uuid", "$1", "UUID", "(.+)"), "gi", "$1", "GPU_I_ID", "(.+)"))')
    return {
        "request_rate": f"sum by (host, model) (rate(nv_inference_request_success[{window}]))",
        "requests": f"sum by (host, model) (increase(nv_inference_request_success[{window}]))",
        "queue_us": f"sum by (host, model) (increase(nv_inference_queue_duration_us[{window}]))",
        "compute_us": f"sum by (host, model) (increase(nv_inference_compute_infer_duration_us[{window}]))",
        # One row per instance and model it served, holding the instance's most memory used (MiB).
        "instance_memory_mib": (f"group by (host, gpu_uuid, gi, profile, model) (nv_inference_request_success) "
                                f"* on (gpu_uuid, gi) group_left {fb}"),
    }


REQUIRED = ("request_rate", "requests", "queue_us", "compute_us")


@dataclass(frozen=True)
class ModelDemand:
    host: str
    model: str
    rps: float                      # successful requests/s over the window
    queue_us: float | None          # mean queue time per request
    compute_us: float | None        # mean compute time per request


@dataclass(frozen=True)
class InstanceMemory:
    host: str
    gpu_uuid: str
    gi: str
    profile: str
    models: tuple[str, ...]
    used_mib: float


@dataclass
class Demand:
    window: str
    models: dict[tuple[str, str], ModelDemand] = field(default_factory=dict)   # (host, model) -> ...
    instances: list[InstanceMemory] = field(default_factory=list)

    def of_host(self, host: str) -> dict[str, float]:
        return {m: d.rps for (h, m), d in self.models.items() if h == host}

    def model_memory(self) -> dict[str, float]:
        """Most memory seen on an instance serving that model alone (MiB)."""
        out: dict[str, float] = {}
        for inst in self.instances:
            if len(inst.models) == 1:
                out[inst.models[0]] = max(out.get(inst.models[0], 0.0), inst.used_mib)
        return out


def _vector(name: str, answer, source: str) -> list[tuple[dict, float]]:
    """(labels, value) of an instant-vector answer, checked as the API documents it."""
    if not isinstance(answer, Mapping):
        raise DemandError(f"{source}: {name}: not a Prometheus API answer: {shown(answer)}")
    if answer.get("status") != "success":
        raise DemandError(f"{source}: {name}: Prometheus answered {cut(str(answer.get('status')), 40)}: "
                          f"{cut(str(answer.get('errorType', '')), 60)} {cut(str(answer.get('error', '')), 300)}")
    data = answer.get("data")
    if not isinstance(data, Mapping) or data.get("resultType") != "vector" or not isinstance(data.get("result"), list):
        raise DemandError(f"{source}: {name}: wants an instant vector (data.resultType vector), "
                          f"got {shown(data)}")
    out = []
    for row in data["result"]:
        try:
            labels, (_, text) = dict(row["metric"]), row["value"]
            value = float(text)
        except (KeyError, TypeError, ValueError):
            raise DemandError(f"{source}: {name}: a sample is not {{metric, value: [time, number]}}: {shown(row)}") from None
        if value == value and value not in (float("inf"), float("-inf")):     # NaN/Inf: no data in the window
            out.append(({str(k): str(v) for k, v in labels.items()}, value))
    return out


def parse(answers: Mapping, window: str, source: str) -> Demand:
    """Demand from the API's answers to `queries(window)`, by query name."""
    if not isinstance(answers, Mapping):
        raise DemandError(f"{source}: wants a mapping of query name -> Prometheus API answer")
    missing = [n for n in REQUIRED if n not in answers]
    if missing:
        raise DemandError(f"{source}: no answer for {', '.join(missing)} (wants {', '.join(queries(window))})")
    by = {}
    for name in REQUIRED:
        rows = {}
        for labels, value in _vector(name, answers[name], source):
            if "host" not in labels or "model" not in labels:
                raise DemandError(f"{source}: {name}: a sample lacks the host or model label: {shown(labels)}")
            rows[(labels["host"], labels["model"])] = value
        by[name] = rows
    demand = Demand(window)
    for key, rps in sorted(by["request_rate"].items()):
        n = by["requests"].get(key, 0.0)
        mean = lambda part: by[part][key] / n if n > 0 and key in by[part] else None  # noqa: E731
        demand.models[key] = ModelDemand(key[0], key[1], rps, mean("queue_us"), mean("compute_us"))
    if "instance_memory_mib" in answers:
        grouped: dict[tuple, tuple[set, float, str]] = {}
        for labels, value in _vector("instance_memory_mib", answers["instance_memory_mib"], source):
            key = (labels.get("host", ""), labels.get("gpu_uuid", ""), labels.get("gi", ""))
            models, _, _ = grouped.get(key, (set(), 0.0, ""))
            grouped[key] = (models | {labels.get("model", "")}, value, labels.get("profile", ""))
        demand.instances = [InstanceMemory(h, u, gi, prof, tuple(sorted(ms)), mib)
                            for (h, u, gi), (ms, mib, prof) in sorted(grouped.items())]
    return demand


def fetch_answers(url: str, window: str, timeout: float = 10.0) -> dict:
    """The API's answer to each query, from the Prometheus at `url`; DemandError when it is down or odd."""
    base = url.rstrip("/")
    if not re.match(r"https?://[^\s/]+", base):
        raise DemandError(f"--prometheus {shown(url)} is not an http:// or https:// address")
    out = {}
    for name, query in queries(window).items():
        target = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": query})
        try:
            with urllib.request.urlopen(target, timeout=timeout) as resp:
                raw = resp.read(MAX_BYTES + 1)
        except urllib.error.HTTPError as exc:
            # The API answers 400/422/503 with its JSON error body.
            raw = exc.read(MAX_BYTES + 1)
            try:
                body = json.loads(raw)
            except ValueError:
                raise DemandError(f"Prometheus at {cut(base, 200)} answered HTTP {exc.code} to {name}: "
                                  f"{shown(raw[:200].decode('utf-8', 'replace'))}") from None
            out[name] = body
            _vector(name, body, f"Prometheus at {cut(base, 200)}")
            continue
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DemandError(f"Prometheus at {cut(base, 200)} did not answer: {cut(str(reason), 200)}") from None
        if len(raw) > MAX_BYTES:
            raise DemandError(f"Prometheus at {cut(base, 200)}: the answer to {name} is over {MAX_BYTES >> 20} MiB")
        try:
            out[name] = json.loads(raw)
        except ValueError:
            raise DemandError(f"Prometheus at {cut(base, 200)} answered {name} with something that is not the "
                              f"API's JSON: {shown(raw[:200].decode('utf-8', 'replace'))}") from None
    return out


def read_answers(path: str) -> dict:
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_BYTES * 5 + 1)
    except OSError as exc:
        raise DemandError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise DemandError(f"{path}: not JSON: {cut(str(exc), 200)}") from None
