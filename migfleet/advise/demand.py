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

from migfleet.advise.capacity_values import MAX_RPS, CapacityError, json_data, key, max_mib, model_name_problem, number
from migfleet.inventory.errors import cut, shown

# Prometheus's duration: units from the largest, each at most once (prometheus/common model.ParseDuration).
WINDOW = re.compile(r"(?:(\d{1,12})y)?(?:(\d{1,12})w)?(?:(\d{1,12})d)?(?:(\d{1,12})h)?(?:(\d{1,12})m)?"
                    r"(?:(\d{1,12})s)?(?:(\d{1,12})ms)?\Z")
UNIT_S = (365 * 86400, 7 * 86400, 86400, 3600, 60, 1, 0.001)
MAX_WINDOW_S = 10 * 365 * 86400       # 10y: longer than any Prometheus keeps its samples
MAX_BYTES = 16 << 20        # one answer; a fleet of thousands of instances stays far below


class DemandError(ValueError):
    """Demand that cannot be read; one line naming the source and the reason."""


def window_seconds(window: str) -> float:
    """Seconds of a Prometheus duration (30m, 1h, 1d, 1h30m); DemandError for anything else."""
    m = WINDOW.match(window) if isinstance(window, str) and window else None
    seconds = sum(int(n) * unit for n, unit in zip(m.groups(), UNIT_S) if n) if m else 0
    if not m or not 0 < seconds <= MAX_WINDOW_S:
        raise DemandError(f"--window {shown(window)} is not a Prometheus duration such as 30m, 1h or 1d"
                          + (" (above 0 and at most 10y)" if m else ""))
    return seconds


def queries(window: str) -> dict[str, str]:
    """The PromQL behind each part of the demand, over `window` (a Prometheus duration)."""
    window_seconds(window)
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


def _path(name: str, *parts) -> str:
    return f"$.{key(name)}" + "".join(f"[{p}]" if isinstance(p, int) else f".{key(p)}" for p in parts)


def _value(text, where: str, high: float, unit: str) -> float:
    """A sample's value: the API gives it as a string; finite, >= 0 and at most `high`."""
    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        raise DemandError(f"{where}: wants a number as a string, not {shown(text)}")
    try:
        value = float(text if not isinstance(text, str) or len(text) <= 64 else "too long")
    except (ValueError, OverflowError):
        raise DemandError(f"{where}: wants a number, not {shown(text)}") from None
    try:
        return number(value, where, high, unit)
    except CapacityError as exc:       # said with the text as given
        raise DemandError(f"{str(exc).rsplit(', not ', 1)[0]}, not {shown(text)}") from None


def _vector(name: str, answer, source: str) -> list[tuple[str, dict, object]]:
    """(JSON path, labels, value as given) of an instant-vector answer, checked as the API documents it."""
    if not isinstance(answer, Mapping):
        raise DemandError(f"{source}: {_path(name)}: not a Prometheus API answer: {shown(answer)}")
    if answer.get("status") != "success":
        raise DemandError(f"{source}: {_path(name)}: Prometheus answered {cut(str(answer.get('status')), 40)}: "
                          f"{cut(str(answer.get('errorType', '')), 60)} {cut(str(answer.get('error', '')), 300)}")
    data = answer.get("data")
    if not isinstance(data, Mapping) or data.get("resultType") != "vector" or not isinstance(data.get("result"), list):
        raise DemandError(f"{source}: {_path(name, 'data')}: wants an instant vector (data.resultType vector, "
                          f"data.result a list), got {shown(data)}")
    out = []
    for i, row in enumerate(data["result"]):
        where = f"{source}: {_path(name, 'data', 'result', i)}"
        if not isinstance(row, Mapping) or not isinstance(row.get("metric"), Mapping) \
                or not isinstance(row.get("value"), list) or len(row["value"]) != 2:
            raise DemandError(f"{where}: a sample is not {{metric, value: [time, number]}}: {shown(row)}")
        labels = row["metric"]
        odd = [k for k, v in labels.items() if not isinstance(k, str) or not isinstance(v, str)]
        if odd:
            raise DemandError(f"{where}.metric: labels are strings, not {shown({k: labels[k] for k in odd[:2]})}")
        out.append((_path(name, "data", "result", i), dict(labels), row["value"][1]))
    return out


# What each query's values stand for: (the most a sample may hold, its unit).
def _bounds(window_s: float) -> dict[str, tuple[float, str]]:
    return {"request_rate": (MAX_RPS, " requests/s"),
            "requests": (MAX_RPS * window_s, f" requests ({MAX_RPS:g} a second over the window)"),
            # Time summed over the window's requests: at most each of them the whole window.
            "queue_us": (MAX_RPS * window_s * window_s * 1e6, f" us ({MAX_RPS:.0f} requests a second, each the window long)"),
            "compute_us": (MAX_RPS * window_s * window_s * 1e6, f" us ({MAX_RPS:.0f} requests a second, each the window long)"),
            "instance_memory_mib": (max_mib(), " MiB (the most memory of any GPU migfleet knows)")}


def _model_label(labels: Mapping, where: str) -> str:
    problem = model_name_problem(labels["model"])
    if problem:
        raise DemandError(f"{where}.metric.model: {problem}")
    return labels["model"]


def parse(answers: Mapping, window: str, source: str) -> Demand:
    """Demand from the API's answers to `queries(window)`, by query name; DemandError naming the
    source, the JSON path and the reason for any answer, sample, label or value that cannot be used."""
    if not isinstance(answers, Mapping):
        raise DemandError(f"{source}: $: wants a mapping of query name -> Prometheus API answer, not {shown(answers)}")
    missing = [n for n in REQUIRED if n not in answers]
    if missing:
        raise DemandError(f"{source}: no answer for {', '.join(missing)} (wants {', '.join(queries(window))})")
    bounds = _bounds(window_seconds(window))
    by = {}
    for name in REQUIRED:
        rows: dict[tuple[str, str], tuple[str, float]] = {}
        for path, labels, text in _vector(name, answers[name], source):
            where = f"{source}: {path}"
            if "host" not in labels or "model" not in labels:
                raise DemandError(f"{where}.metric: a sample lacks the host or model label: {shown(labels)}")
            key_ = (labels["host"], _model_label(labels, where))
            value = _value(text, f"{where}.value[1]", *bounds[name])
            if key_ in rows:
                raise DemandError(f"{where}: a second sample for host {key(key_[0])}, model {key(key_[1])} (the first "
                                  f"is {rows[key_][0]}); the query gives one per host and model")
            rows[key_] = (path, value)
        by[name] = {k: v for k, (_, v) in rows.items()}
    if not by["request_rate"]:
        raise DemandError(f"{source}: no demand found at all: request_rate has no sample for any host and model over "
                          f"{window} (does this Prometheus scrape Triton's metrics, with the host label of "
                          "docs/METRICS.md?)")
    demand = Demand(window)
    for key_, rps in sorted(by["request_rate"].items()):
        n = by["requests"].get(key_, 0.0)
        mean = lambda part: by[part][key_] / n if n >= 1 and key_ in by[part] else None  # noqa: E731
        demand.models[key_] = ModelDemand(key_[0], key_[1], rps, mean("queue_us"), mean("compute_us"))
    if "instance_memory_mib" in answers:
        grouped: dict[tuple, tuple[set, float, str]] = {}
        seen: dict[tuple, str] = {}
        for path, labels, text in _vector("instance_memory_mib", answers["instance_memory_mib"], source):
            where = f"{source}: {path}"
            lacking = [k for k in ("host", "gpu_uuid", "gi", "model") if k not in labels]
            if lacking:
                raise DemandError(f"{where}.metric: a sample lacks the {', '.join(lacking)} label(s): {shown(labels)}")
            model = _model_label(labels, where)
            value = _value(text, f"{where}.value[1]", *bounds["instance_memory_mib"])
            inst = (labels["host"], labels["gpu_uuid"], labels["gi"])
            if inst + (model,) in seen:
                raise DemandError(f"{where}: a second sample for host {key(inst[0])}, GPU {key(inst[1])}, instance "
                                  f"{key(inst[2])}, model {key(model)} (the first is {seen[inst + (model,)]})")
            seen[inst + (model,)] = path
            models, mib, _ = grouped.get(inst, (set(), 0.0, ""))
            grouped[inst] = (models | {model}, max(mib, value), labels.get("profile", ""))
        demand.instances = [InstanceMemory(h, u, gi, prof, tuple(sorted(ms)), mib)
                            for (h, u, gi), (ms, mib, prof) in sorted(grouped.items())]
    return demand


def known_only(measured: Demand, known: Mapping[str, frozenset[str] | None], source: str) -> tuple[Demand, list[str]]:
    """The demand of the inventory's hosts and of the models each one has (`known`: host -> its
    models, None where any model is taken), and a warning naming each host and model left out.
    DemandError when no demand for any host of the inventory is left."""
    warnings = []
    unknown_hosts = sorted({h for h, _ in measured.models} - set(known))
    if unknown_hosts:
        names = cut(", ".join(map(key, unknown_hosts)), 400)
        warnings.append(f"demand for host(s) not in the inventory, left out: {names}")
    kept = Demand(measured.window, instances=measured.instances)
    unknown_models: dict[str, list[str]] = {}
    for (host, model), d in measured.models.items():
        if host not in known:
            continue
        if known[host] is not None and model not in known[host]:
            unknown_models.setdefault(host, []).append(model)
            continue
        kept.models[(host, model)] = d
    for host, models in sorted(unknown_models.items()):
        warnings.append(f"{key(host)}: demand for model(s) not in its model repository nor its mig_layout, left out: "
                        f"{cut(', '.join(sorted(models)), 400)}")
    if not kept.models:
        raise DemandError(f"{source}: no demand found for any host and model of the inventory"
                          + (f" (it names only host(s) {cut(', '.join(map(key, unknown_hosts)), 200)}; the host label "
                             "is the inventory's host name, docs/METRICS.md)" if unknown_hosts else
                             " (every model it names is unknown to its host)"))
    return kept, warnings


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
            except (ValueError, RecursionError):
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
        except (ValueError, RecursionError):
            raise DemandError(f"Prometheus at {cut(base, 200)} answered {name} with something that is not the "
                              f"API's JSON: {shown(raw[:200].decode('utf-8', 'replace'))}") from None
    return out


def read_answers(path: str) -> dict:
    """The answers kept in a file (what --save-demand writes): at most 5 answers' worth of bytes, JSON."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_BYTES * 5 + 1)
    except OSError as exc:
        raise DemandError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_BYTES * 5:
        raise DemandError(f"{path}: larger than {MAX_BYTES * 5 >> 20} MiB")
    try:
        return json_data(raw, longest=200)
    except CapacityError as exc:
        raise DemandError(f"{path}: {exc}") from None
