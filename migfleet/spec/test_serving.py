"""One Triton per MIG device, bound to it, ready, on loopback only; Envoy in front, inference works."""
import json

import pytest

from migfleet.serving import containers
from migfleet.serving import envoy
from migfleet.inventory import paths
from migfleet.fleet import checks as spec_checks
from migfleet.serving import triton
from migfleet.fleet import model_checks
from migfleet.serving import endpoints
from migfleet.serving.endpoints import GRPC_CLUSTER, HTTP_CLUSTER

MODEL = "lab_classifier"        # files/models/README.md: INPUT FP32[4] -> PROBABILITIES FP32[3]
MODEL_INPUT, MODEL_OUTPUT = "INPUT", "PROBABILITIES"


@pytest.fixture(autouse=True)
def _serving_host(spec_host):
    """A mig_only host gets no Triton or Envoy from migfleet: nothing here applies to it."""
    if spec_host.data and spec_host.data.get("mig_only"):
        pytest.skip(f"{spec_host.name}: mig_only, migfleet deploys no serving here")


def expected_tritons(spec_host) -> list[triton.Triton]:
    """One Triton per MIG device of the live placed layouts (the same list drift compares)."""
    return spec_checks.expected_tritons(spec_host.live, spec_host.settings)


def listeners(spec_host):
    return spec_checks.parse_ss(spec_host.check_output("ss -ltnpH"))


def fail_if(found):
    if found:
        pytest.fail("\n" + spec_checks.report(found), pytrace=False)


def test_one_triton_per_mig_device(spec_host):
    inspected = containers.parse_inspect(spec_host.check_output(containers.INSPECT_COMMAND))
    fail_if(spec_checks.compare_tritons(spec_host.name, expected_tritons(spec_host), inspected))


def test_tritons_ready(spec_host):
    want = expected_tritons(spec_host)
    if not want:
        pytest.skip(f"{spec_host.name}: no MIG device, no Triton")
    script = "; ".join(
        f"echo {t.ports.http} $(curl -s -o /dev/null -m 5 -w '%{{http_code}}' "
        f"http://127.0.0.1:{t.ports.http}{triton.READY_PATH})" for t in want)
    codes = dict(line.split(" ", 1) for line in spec_host.check_output(script).splitlines())
    fail_if([spec_checks.Mismatch(spec_host.name, t.place.gpu_index, t.place.gpu_uuid, f"{t.name} {triton.READY_PATH}",
                                  "HTTP 200", f"HTTP {codes.get(str(t.ports.http), 'no answer')}")
             for t in want if codes.get(str(t.ports.http)) != "200"])


def test_triton_ports_loopback_only(spec_host):
    ports = {}
    for t in expected_tritons(spec_host):
        ports |= {t.ports.http: f"{t.name} HTTP", t.ports.grpc: f"{t.name} gRPC", t.ports.metrics: f"{t.name} metrics"}
    fail_if(spec_checks.check_loopback_only(spec_host.name, listeners(spec_host), ports))


def test_envoy_listening(spec_host):
    s, ls = spec_host.settings, listeners(spec_host)
    address = s["envoy_listen_address"]
    fail_if(spec_checks.check_listening(spec_host.name, ls, s["envoy_http_port"], address, "Envoy HTTP")
            + spec_checks.check_listening(spec_host.name, ls, s["envoy_grpc_port"], address, "Envoy gRPC")
            + spec_checks.check_loopback_only(spec_host.name, ls, {s["envoy_admin_port"]: "Envoy admin"}))


def test_envoy_backends_healthy(spec_host):
    s, want = spec_host.settings, expected_tritons(spec_host)
    text = spec_host.check_output(f"curl -sf -m 5 http://{envoy.ADMIN_ADDRESS}:{s['envoy_admin_port']}/clusters")
    fail_if(spec_checks.check_envoy_backends(spec_host.name, text, {
        HTTP_CLUSTER: {t.ports.http: t for t in want}, GRPC_CLUSTER: {t.ports.grpc: t for t in want}}))


def test_inference_through_envoy(spec_host, request):
    s, want = spec_host.settings, expected_tritons(spec_host)
    if not want:
        pytest.skip(f"{spec_host.name}: no Triton behind Envoy")
    folder = paths.inventory_folder(request.config.getoption("--inventory"))
    readme = paths.local_path(s["triton_model_repository"], folder) / "README.md"
    if not (readme.parent / MODEL).is_dir():
        pytest.skip(f"model repository {readme.parent} has no {MODEL}")
    address = s["envoy_listen_address"]
    if address in ("0.0.0.0", "::"):
        address = spec_host.target.hostname
    url = f"http://{address}:{s['envoy_http_port']}/v2/models/{MODEL}/infer"
    found = []
    for inputs, outputs in spec_checks.known_pairs(readme.read_text()):
        body = json.dumps({"inputs": [{"name": MODEL_INPUT, "datatype": "FP32", "shape": [len(inputs)],
                                       "data": inputs}]})
        for _ in want:      # round robin: once per Triton behind Envoy
            result = spec_host.run(f"curl -s -m 20 -X POST -H 'Content-Type: application/json' "
                                   f"--data-binary '{body}' {url}")
            found += spec_checks.compare_inference(spec_host.name, result.stdout or result.stderr,
                                                   {MODEL_OUTPUT: outputs}, tolerance=1e-5)
    fail_if(found)


@pytest.fixture
def repository_models(spec_host, request) -> tuple[str, ...]:
    """The models of the local repository the deploy syncs (what an instance listing none loads)."""
    folder = paths.inventory_folder(request.config.getoption("--inventory"))
    root = paths.local_path(spec_host.settings["triton_model_repository"], folder)
    return tuple(paths.models_in(root)) if root.is_dir() else ()


def test_each_triton_serves_exactly_its_models(spec_host, repository_models):
    want = spec_checks.expected_tritons(spec_host.live, spec_host.settings,
                                        (spec_host.data or {}).get("mig_layout") or (), repository_models)
    if not want or not all(t.models for t in want):
        pytest.skip(f"{spec_host.name}: the models of its Tritons are not known here")
    script = "; ".join(f"echo @@{t.name}; curl -s -m 5 -X POST -d '{{\"ready\":true}}' "
                       f"http://127.0.0.1:{t.ports.http}/v2/repository/index; echo" for t in want)
    indexes = dict(chunk.partition("\n")[::2] for chunk in spec_host.check_output(script).split("@@")[1:])
    s = spec_host.settings
    text = spec_host.check_output(f"curl -sf -m 5 http://{envoy.ADMIN_ADDRESS}:{s['envoy_admin_port']}/clusters")
    fail_if(model_checks.compare_models(spec_host.name, want, {k.strip(): v for k, v in indexes.items()})
            + spec_checks.check_envoy_backends(spec_host.name, text, endpoints.model_members(want)))


def test_each_model_runs_with_its_triton_settings(spec_host, repository_models):
    """A model an instance lists with Triton settings (instance_count, max_batch_size) runs with them:
    each Triton's live config of it (GET /v2/models/NAME/config)."""
    want = [t for t in spec_checks.expected_tritons(spec_host.live, spec_host.settings,
                                                    (spec_host.data or {}).get("mig_layout") or (), repository_models)
            if t.settings]
    if not want:
        pytest.skip(f"{spec_host.name}: no model here has Triton settings of its own")
    text = spec_host.check_output(model_checks.configs_script(want))
    configs = {head.strip(): body for head, _, body in (c.partition("\n") for c in text.split("@@")[1:])}
    fail_if(model_checks.compare_settings(spec_host.name, want, configs))
