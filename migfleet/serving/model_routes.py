"""Envoy routes by model name: each model's requests go to the cluster of the Tritons that load it.

HTTP (KServe v2): `/v2/models/<name>` and below go to `triton_http.<name>`. gRPC: the request's
model name is read from its first message by Envoy's gRPC field extraction filter (into dynamic
metadata, with the GRPCInferenceService descriptor set in triton_grpc.pb), and a route on that
metadata picks `triton_grpc.<name>`; clients change nothing. Envoy picks a request's route when its
headers arrive, before the filter has read the message, so a one-line Lua filter after it clears
the route cache and the route is picked again with the model known (the maintainers' answer for
routes on metadata that filters set: https://github.com/envoyproxy/envoy/issues/39092).
https://www.envoyproxy.io/docs/envoy/latest/configuration/http/http_filters/grpc_field_extraction_filter
A model the host does not serve is answered by Envoy itself: HTTP 404, gRPC NOT_FOUND, naming it.
Requests that name no model (server health, metadata, repository index) go to every Triton.

triton_grpc.pb is the FileDescriptorSet of Triton's grpc_service.proto and model_config.proto, as
the tritonclient package compiles them (tests/serving/test_model_routes.py checks it against them).
"""
from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path

from migfleet.serving.endpoints import GRPC_CLUSTER, HTTP_CLUSTER, model_cluster

SERVICE = "inference.GRPCInferenceService"
# The methods that name one model, and the field that names it (grpc_service.proto).
MODEL_FIELDS = {"ModelInfer": "model_name", "ModelStreamInfer": "model_name", "ModelReady": "name",
                "ModelMetadata": "name", "ModelConfig": "name"}
DESCRIPTOR = Path(__file__).with_name("triton_grpc.pb")
EXTRACTION = "envoy.filters.http.grpc_field_extraction"
_EXTRACTION_TYPE = "type.googleapis.com/envoy.extensions.filters.http.grpc_field_extraction.v3.GrpcFieldExtractionConfig"
_LUA_TYPE = "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua"
MODELS_PREFIX = "/v2/models/"

Action = Callable[[str], dict]      # cluster name -> the route action (timeout, retries)


@lru_cache(maxsize=1)
def _descriptor() -> str:
    return base64.b64encode(DESCRIPTOR.read_bytes()).decode()


def http_routes(models: Sequence[str], action: Action) -> list[dict]:
    """Per model, its cluster; another model name, 404 from Envoy; the rest, every Triton."""
    served = ", ".join(models) or "none"
    return [
        *({"match": {"path_separated_prefix": f"{MODELS_PREFIX}{m}"}, "route": action(model_cluster(HTTP_CLUSTER, m))}
          for m in models),
        {"match": {"prefix": MODELS_PREFIX}, "direct_response": {"status": 404, "body_format": {"text_format_source": {
            "inline_string": f"no such model on this host: %REQ(:PATH)% names a model it does not serve "
                             f"(it serves: {served})\n"}}}},
        {"match": {"prefix": "/"}, "route": action(HTTP_CLUSTER)},
    ]


def _named(field: str, matcher: dict) -> dict:
    return {"filter": EXTRACTION, "path": [{"key": field}], "value": matcher}


def grpc_routes(models: Sequence[str], action: Action) -> list[dict]:
    """Per model, its cluster (whichever field names it); another model name, NOT_FOUND from Envoy
    (a trailers-only answer); a request naming no model, every Triton."""
    fields = sorted(set(MODEL_FIELDS.values()))
    routes = [{"match": {"prefix": "/", "dynamic_metadata": [
                  _named(f, {"list_match": {"one_of": {"string_match": {"exact": m}}}})]},
               "route": action(model_cluster(GRPC_CLUSTER, m))} for m in models for f in fields]
    for f in fields:
        message = f"model %DYNAMIC_METADATA({EXTRACTION}:{f})% is not served on this host"
        routes.append({"match": {"prefix": "/", "dynamic_metadata": [_named(f, {"present_match": True})]},
                       "direct_response": {"status": 200},
                       "response_headers_to_add": [
                           {"header": {"key": "content-type", "value": "application/grpc"}},
                           {"header": {"key": "grpc-status", "value": "5"}},      # NOT_FOUND
                           {"header": {"key": "grpc-message", "value": message}}]})
    routes.append({"match": {"prefix": "/"}, "route": action(GRPC_CLUSTER)})
    return routes


def grpc_filters() -> list[dict]:
    """The filters in front of the gRPC router: the model name into metadata, then a new route."""
    return [
        {"name": EXTRACTION, "typed_config": {
            "@type": _EXTRACTION_TYPE, "descriptor_set": {"inline_bytes": _descriptor()},
            "extractions_by_method": {f"{SERVICE}.{method}": {"request_field_extractions": {field: {}}}
                                      for method, field in MODEL_FIELDS.items()}}},
        {"name": "envoy.filters.http.lua", "typed_config": {
            "@type": _LUA_TYPE,
            "default_source_code": {"inline_string": "function envoy_on_request(h) h:clearRouteCache() end\n"}}},
    ]
