"""Triton settings per instance: from a `models` entry through the planner into each Triton's run file,
and applied on the host through the repository API's config override (a stand-in Triton that keeps
each model's config as the override last gave it)."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from migfleet.mig import desired
from migfleet.mig.desired import ServedModel
from migfleet.mig.fit import fit_models
from migfleet.serving import rebind, triton
from migfleet.serving import settings as serving_settings
from migfleet.serving.models import settings_config, settings_differences, split_models

A40 = "NVIDIA A100-SXM4-40GB"
BASE = {"name": "m", "backend": "python", "max_batch_size": 8, "input": [{"name": "INPUT"}],
        "instance_group": [{"count": 1, "kind": "KIND_CPU"}]}


def test_a_models_entry_is_a_name_or_a_name_with_settings(a100):
    rule = {"gpus": "all", "instances": [{"profile": "3g.20gb", "count": 1,
                                          "models": ["a", {"name": "b", "instance_count": 2, "max_batch_size": 4}]}]}
    layout, models = fit_models(a100, desired.parse_rules([rule])[0].layout.instances)
    assert models == {layout.gis[0].start: (ServedModel("a"), ServedModel("b", 2, 4))}
    names, with_settings = split_models(models[layout.gis[0].start])
    assert names == ("a", "b") and with_settings == (ServedModel("b", 2, 4),)


def test_settings_ride_in_the_run_file_and_not_in_the_config_hash():
    place = triton.Place(0, 0, 0, "GPU-a", "3g.20gb")
    s = serving_settings.defaults()
    plain = triton.spec_for(place, s, "d", ["a", "b"])
    tuned = triton.spec_for(place, s, "d", [ServedModel("a"), ServedModel("b", 2, None)])
    assert tuned.models == plain.models == ("a", "b") and tuned.config_hash == plain.config_hash
    assert "settings" not in json.loads(plain.to_json())
    assert json.loads(tuned.to_json())["settings"] == {"b": {"instance_count": 2}}
    assert triton.Triton.from_json(tuned.to_json()) == tuned
    assert triton.Triton.from_json(plain.to_json()).settings == ()


def test_settings_config_sets_what_is_given_and_keeps_the_rest():
    cfg = settings_config(BASE, 4, 3)
    assert cfg["max_batch_size"] == 4 and cfg["dynamic_batching"] == {} and cfg["instance_group"] == [
        {"count": 3, "kind": "KIND_CPU"}] and cfg["input"] == BASE["input"]
    assert settings_config(BASE, None, 2)["max_batch_size"] == 8
    assert "dynamic_batching" not in settings_config(BASE, 0, None)
    assert settings_config(BASE, 0, None)["instance_group"] == BASE["instance_group"]


def test_differences_name_each_setting_wanted_and_live():
    live = settings_config(BASE, 4, 3)
    assert settings_differences(ServedModel("m", 3, 4), live) == []
    assert settings_differences(ServedModel("m", 2, None), live) == ["instance_count 2, live 3"]
    assert settings_differences(ServedModel("m", None, 0), live) == [
        "max_batch_size 0 (no batching), live 4 (dynamic batching)"]


@pytest.fixture
def stand_in():
    """A Triton stand-in: loads (with or without a config override), each model's live config."""
    configs = {"m": dict(BASE), "other": dict(BASE, name="other")}
    loads = []

    class Http(BaseHTTPRequestHandler):
        def do_GET(self):
            name = self.path.split("/")[3]
            self._reply(200, configs[name]) if name in configs else self._reply(404, {"error": "no model"})

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            name = self.path.split("/")[4]
            override = (body.get("parameters") or {}).get("config")
            loads.append((name, json.loads(override) if override else None))
            if override:
                configs[name] = json.loads(override)
            self._reply(200, {})

        def _reply(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Http)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], configs, loads
    server.shutdown()


def _at(port: int, settings) -> triton.Triton:
    return triton.Triton("triton-gpu0-s0", triton.Place(0, 0, 0, "GPU-a", "3g.20gb"),
                         triton.TritonPorts(port, port + 1, port + 2), ("x",), "c", ("m", "other"), settings=settings)


def test_a_model_whose_live_config_differs_is_loaded_again_with_the_override(stand_in):
    port, configs, loads = stand_in
    t = _at(port, (ServedModel("m", 2, 4),))
    assert rebind.apply_settings(t, 5) == (["m"], [])
    assert loads == [("m", settings_config(BASE, 4, 2))]
    assert settings_differences(ServedModel("m", 2, 4), configs["m"]) == []
    assert configs["other"] == dict(BASE, name="other")          # a model without settings is left alone
    assert rebind.apply_settings(t, 5) == ([], []) and len(loads) == 1     # as wanted: nothing loads again


def test_a_model_that_does_not_answer_is_named(stand_in):
    port, _, _ = stand_in
    changed, errors = rebind.apply_settings(_at(port, (ServedModel("gone", 2, None),)), 5)
    assert changed == [] and errors == ["triton-gpu0-s0: reading gone's config failed"]


def test_the_live_read_gives_each_triton_its_settings():
    from tests.operations.simulated_gpus import SimulatedGpus, gpu, with_instances
    uuid = "GPU-00000000-0000-4000-8000-000000000001"
    sim = SimulatedGpus(with_instances(gpu(0, A40, uuid), ("3g.20gb", 4), ("1g.5gb", 0)))
    rules = [{"gpus": "all", "instances": [{"profile": "3g.20gb", "count": 1,
                                            "models": [{"name": "a", "instance_count": 3}]},
                                           {"profile": "1g.5gb", "count": 1, "models": ["a"]}]}]
    specs = {t.place.profile: t for t in triton.live_specs(sim.gpus, serving_settings.defaults(), rules=rules)}
    assert specs["3g.20gb"].settings == (ServedModel("a", 3, None),) and specs["1g.5gb"].settings == ()
