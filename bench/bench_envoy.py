"""The bench Envoys' config: migfleet's own Envoy files for some Tritons (`migfleet.serving.envoy.files`),
as one static config with those Tritons as endpoints, on the ports a benchmark picks.

bench/datapath.py (lab hosts) and bench/h100/serve_bench.py (a GPU machine) both start Envoy from it.
"""
from __future__ import annotations

from typing import Sequence

from migfleet.serving import endpoints, envoy
from migfleet.serving import settings as serving_settings
from migfleet.serving.triton import Triton


def settings(http: int, grpc: int, admin: int, metrics: int) -> dict:
    """migfleet's default serving settings with the bench Envoy's listeners on 127.0.0.1 at these ports."""
    return {**serving_settings.defaults(), "envoy_listen_address": "127.0.0.1", "envoy_http_port": http,
            "envoy_grpc_port": grpc, "envoy_admin_port": admin, "metrics_port": metrics}


def static_config(specs: Sequence[Triton], bench_settings: dict) -> dict:
    """migfleet's Envoy files for these Tritons, as one static config with them as endpoints."""
    texts = envoy.files(specs, bench_settings, "bench", ["127.0.0.0/8"])
    return envoy.static_config(texts, endpoints.eds_docs(specs, endpoints.models_of(specs)))


def healthy_backends(clusters: str, cluster: str = endpoints.HTTP_CLUSTER) -> int:
    """How many endpoints of `cluster` (default: the Triton HTTP cluster) Envoy's admin /clusters
    text says are healthy."""
    return sum(line.startswith(f"{cluster}::") and line.endswith("::health_flags::healthy")
               for line in clusters.splitlines())
