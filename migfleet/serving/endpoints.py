"""Envoy's view of the Tritons, its one home (standard library only; the host runs it): the
cluster and file names, the endpoint (EDS) and listener (LDS) documents the host renders, and the
parser of Envoy's admin `/clusters`.

Envoy reads the endpoints of each Triton cluster from `eds-<cluster>.json` and its listeners from
`lds.json`, rendered from `lds.template.json` with each place's MIG UUID and GPU instance id.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence

from migfleet.serving.triton import Device, Triton

HTTP_CLUSTER, GRPC_CLUSTER = "triton_http", "triton_grpc"
LDS, LDS_TEMPLATE = "lds.json", "lds.template.json"
_CLA = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"


def eds_file(cluster: str) -> str:
    return f"eds-{cluster}.json"


def mig_uuid_slot(key: str) -> str:
    """Where the listener template leaves a place's MIG UUID open."""
    return f"@MIG_UUID:{key}@"


def gi_slot(key: str) -> str:
    """Where the listener template leaves a place's GPU instance id open."""
    return f"@GI:{key}@"


def weights(tritons: Iterable[Triton], model: str) -> dict[str, int]:
    """{Triton: Envoy load_balancing_weight} in one model's cluster: in proportion to each one's rate
    for the model (its capacity, requests/s at a tenth), so round robin and least request split the
    model's requests as the capacity table does; none (equal weights) unless every Triton has a rate."""
    rates = {t.name: dict(t.capacity).get(model, 0.0) for t in tritons}
    if not rates or not all(r > 0 for r in rates.values()):
        return {}
    return {name: max(1, round(r * 10)) for name, r in rates.items()}


def eds_doc(cluster: str, tritons: Iterable[Triton], grpc: bool, model: str | None = None) -> str:
    """One cluster's EDS document: an endpoint per Triton (gRPC ones health-checked on their
    Triton's HTTP port); in a model's cluster, weighted by each one's capacity for it."""
    tritons = sorted(tritons, key=lambda t: t.name)
    weight = weights(tritons, model) if model else {}
    endpoints = []
    for t in tritons:
        ep = {"address": {"socket_address": {"address": "127.0.0.1", "port_value": t.ports.grpc if grpc else t.ports.http}},
              "hostname": t.name}
        if grpc:
            ep["health_check_config"] = {"port_value": t.ports.http}
        endpoints.append({"endpoint": ep, **({"load_balancing_weight": weight[t.name]} if weight else {})})
    doc = {"version_info": ",".join(t.name for t in tritons) or "none",
           "resources": [{"@type": _CLA, "cluster_name": cluster, "endpoints": [{"lb_endpoints": endpoints}]}]}
    return json.dumps(doc, indent=1) + "\n"


def model_cluster(cluster: str, model: str) -> str:
    """The cluster of one model's Tritons (HTTP_CLUSTER or GRPC_CLUSTER, then the model's name)."""
    return f"{cluster}.{model}"


def models_of(tritons: Iterable[Triton]) -> list[str]:
    """Every model some Triton loads, sorted."""
    return sorted({m for t in tritons for m in t.models})


def eds_docs(tritons: Iterable[Triton], models: Iterable[str] = (),
             keep: Mapping[str, Iterable[str]] | None = None) -> dict[str, str]:
    """{file name: EDS document}: both Triton clusters, an endpoint per Triton in rotation; and per
    model of `models`, its clusters with the Tritons that load it (and those `keep` {name: models}
    leaves in that model's rotation a while longer: a model moving away)."""
    tritons, keep = list(tritons), keep or {}
    out = {eds_file(c): eds_doc(c, tritons, grpc) for c, grpc in ((HTTP_CLUSTER, False), (GRPC_CLUSTER, True))}
    for m in sorted(set(models)):
        members = [t for t in tritons if m in t.models or m in keep.get(t.name, ())]
        for c, grpc in ((HTTP_CLUSTER, False), (GRPC_CLUSTER, True)):
            out[eds_file(model_cluster(c, m))] = eds_doc(model_cluster(c, m), members, grpc, m)
    return out


def lds_doc(template: str, devices: Mapping[str, Device]) -> str:
    """The listeners, with each place's MIG UUID and GPU instance id filled in (they change
    whenever the instance is re-created; a place with no device says "none")."""
    text = template
    for key, dev in devices.items():
        text = text.replace(mig_uuid_slot(key), dev.uuid).replace(gi_slot(key), str(dev.gi_id))
    while "@MIG_UUID:" in text or "@GI:" in text:
        at = min(i for i in (text.find("@MIG_UUID:"), text.find("@GI:")) if i >= 0)
        end = text.index("@", at + 1)
        text = text[:at] + "none" + text[end + 1:]
    return text


def parse_clusters(text: str) -> dict[tuple[str, str], dict[str, str]]:
    """Envoy admin `/clusters` (text form) -> {(cluster, "ip:port"): {stat: value}} of each endpoint
    (`health_flags`, `rq_active`, ...)."""
    out: dict[tuple[str, str], dict[str, str]] = {}
    for line in text.splitlines():
        parts = line.strip().split("::")
        if len(parts) == 4 and parts[1][:1].isdigit():
            out.setdefault((parts[0], parts[1]), {})[parts[2]] = parts[3]
    return out


def model_members(expected: Sequence[Triton]) -> dict[str, dict[int, Triton]]:
    """{model cluster: {port: Triton}}: each model's clusters hold exactly the Tritons that load it.
    Empty unless every Triton's models are known (an instance listing none loads the repository's)."""
    if not expected or not all(t.models for t in expected):
        return {}
    out: dict[str, dict[int, Triton]] = {}
    for m in models_of(expected):
        out[model_cluster(HTTP_CLUSTER, m)] = {t.ports.http: t for t in expected if m in t.models}
        out[model_cluster(GRPC_CLUSTER, m)] = {t.ports.grpc: t for t in expected if m in t.models}
    return out
