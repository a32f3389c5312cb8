"""Envoy's endpoint documents: each model's clusters weighted by the Tritons' capacity for it."""
from __future__ import annotations

import json

from migfleet.serving import endpoints, triton


def _t(gi: int, models, capacity=()) -> triton.Triton:
    http = 20000 + 100 * gi
    return triton.Triton(f"triton-gpu0-s{gi}", triton.Place(0, gi, 0, "GPU-a", "1g.10gb"),
                         triton.TritonPorts(http, http + 1, http + 2), ("--label", "x"), "c", tuple(models),
                         tuple(capacity))


def _weights(docs: dict, cluster: str) -> dict[int, int | None]:
    doc = json.loads(docs[endpoints.eds_file(cluster)])
    return {ep["endpoint"]["address"]["socket_address"]["port_value"]: ep.get("load_balancing_weight")
            for ep in doc["resources"][0]["endpoints"][0]["lb_endpoints"]}


def test_model_endpoints_weighted_by_capacity_for_that_model():
    tritons = [_t(0, ("a", "b"), (("a", 30.0), ("b", 5.0))), _t(4, ("a",), (("a", 10.0),))]
    docs = endpoints.eds_docs(tritons, ["a", "b"])
    assert _weights(docs, "triton_http.a") == {20000: 300, 20400: 100}
    assert _weights(docs, "triton_grpc.a") == {20001: 300, 20401: 100}
    assert _weights(docs, "triton_http.b") == {20000: 50}
    # the clusters of every Triton are not per model: equal
    assert set(_weights(docs, "triton_http").values()) == {None}


def test_equal_weights_unless_every_triton_has_a_rate():
    docs = endpoints.eds_docs([_t(0, ("a",), (("a", 30.0),)), _t(4, ("a",))], ["a"])
    assert _weights(docs, "triton_http.a") == {20000: None, 20400: None}
    docs = endpoints.eds_docs([_t(0, ("a",)), _t(4, ("a",))], ["a"])
    assert _weights(docs, "triton_http.a") == {20000: None, 20400: None}


def test_a_tiny_rate_still_weighs_one():
    assert endpoints.weights([_t(0, ("a",), (("a", 0.01),)), _t(4, ("a",), (("a", 2.0),))], "a") == \
        {"triton-gpu0-s0": 1, "triton-gpu0-s4": 20}


def test_capacity_in_the_run_file_round_trips():
    t = _t(0, ("a", "b"), (("a", 30.5), ("b", 5.0)))
    assert triton.Triton.from_json(t.to_json()) == t
