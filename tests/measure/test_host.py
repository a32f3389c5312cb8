"""The host side's pure parts and its model load, against a stand-in Triton (repository API)."""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from migfleet.measure import host
from migfleet.serving.models import settings_config

BASE = {"name": "m", "backend": "python", "max_batch_size": 0, "input": [{"name": "INPUT", "dims": [4]}],
        "instance_group": [{"count": 1, "kind": "KIND_CPU"}]}


def test_a_setting_overrides_batching_and_instance_count_and_keeps_the_rest():
    cfg = settings_config(BASE, 8, 3)
    assert cfg["max_batch_size"] == 8 and cfg["dynamic_batching"] == {}
    assert cfg["instance_group"] == [{"count": 3, "kind": "KIND_CPU"}]
    assert cfg["input"] == BASE["input"] and cfg["backend"] == "python"
    plain = settings_config({**cfg, "instance_group": []}, 0, 1)
    assert "dynamic_batching" not in plain and plain["instance_group"] == [{"kind": "KIND_AUTO", "count": 1}]


XML = """<?xml version="1.0" ?><nvidia_smi_log><gpu id="00000000:07:00.0"><processes>
<process_info><gpu_instance_id>7</gpu_instance_id><compute_instance_id>0</compute_instance_id><pid>1</pid>
<used_memory>1200 MiB</used_memory></process_info>
<process_info><gpu_instance_id>7</gpu_instance_id><compute_instance_id>0</compute_instance_id><pid>2</pid>
<used_memory>300 MiB</used_memory></process_info>
<process_info><gpu_instance_id>8</gpu_instance_id><compute_instance_id>0</compute_instance_id><pid>3</pid>
<used_memory>5000 MiB</used_memory></process_info>
</processes></gpu></nvidia_smi_log>"""


def test_memory_counts_the_processes_of_one_gpu_instance():
    assert host.gi_memory_mib(XML, 7) == 1500.0
    assert host.gi_memory_mib(XML, 9) == 0.0


class Triton(BaseHTTPRequestHandler):
    loads: list = []
    config = dict(BASE)
    loaded: set = set()

    def log_message(self, *args):
        pass

    def _answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self._answer(200, Triton.config)

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        if self.path == "/v2/repository/index":
            return self._answer(200, [{"name": n, "state": "READY"} for n in sorted(Triton.loaded)])
        name, action = self.path.split("/")[-2:]
        if action == "unload":
            Triton.loaded.discard(name)
        else:
            Triton.loads.append((name, body))
            override = (body.get("parameters") or {}).get("config")
            Triton.config = json.loads(override) if override else dict(BASE)
            Triton.loaded.add(name)
        self._answer(200, {})


@pytest.fixture
def triton():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Triton)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Triton.loads, Triton.loaded, Triton.config = [], {"other"}, dict(BASE)
    yield server.server_address[1]
    server.shutdown()


def test_a_model_is_loaded_alone_with_its_setting_through_the_config_override(triton):
    got = host.load({"port": triton, "model": "m", "max_batch_size": 4, "instance_count": 2}, {}, print)
    assert got == {"max_batch_size": 4, "instance_counts": [2], "dynamic_batching": True}
    assert Triton.loaded == {"m"}                       # the other model unloaded first
    (plain, _), (name, body) = Triton.loads
    assert plain == name == "m"
    sent = json.loads(body["parameters"]["config"])
    assert sent["max_batch_size"] == 4 and sent["instance_group"] == [{"count": 2, "kind": "KIND_CPU"}]


class FakeHost:
    started = 0

    def __init__(self, config, say):
        pass

    def run_files(self):
        return []

    def containers(self, stopped=False):
        return {"triton-gpu0-s0", "triton-gpu1-s0"}

    def drain(self, names, stop=True):
        FakeHost.drained = set(names)
        return {}

    def start(self, names=None):
        FakeHost.started += 1
        return True


@pytest.fixture
def on_host(tmp_path, monkeypatch):
    """The host side with its files in tmp_path, and Envoy's admin, docker and the replay recorded."""
    calls = []
    monkeypatch.setattr(host, "MARKER", str(tmp_path / "measure.json"))
    monkeypatch.setattr(host.boot, "RECORD_PATH", str(tmp_path / "mig-layout.json"))
    monkeypatch.setattr(host.rotation, "Host", FakeHost)
    monkeypatch.setattr(host, "_admin", lambda port, what: calls.append(("admin", what)))
    monkeypatch.setattr(host.subprocess, "run", lambda argv, **kw: calls.append(tuple(argv)))
    monkeypatch.setattr(host.boot, "replay", lambda record, say: calls.append(("replay", sorted(record))) or True)
    FakeHost.started = 0
    return tmp_path, calls


RECORD = {"version": 1, "gpus": [{"uuid": u, "index": i, "model": "NVIDIA A100-SXM4-40GB",
                                   "layout": {"mode": "enabled", "gis": []}} for i, u in enumerate(("GPU-a", "GPU-b"))]}
CONFIG = {"admin_port": 9901, "drain_seconds": 0}


def test_begin_keeps_the_first_runs_record_and_end_restores_it(on_host):
    tmp, calls = on_host
    record = tmp / "mig-layout.json"
    record.write_text(json.dumps(RECORD))
    first = host.begin({"gpu_uuid": "GPU-a", "gpu_index": 0}, CONFIG, print)
    assert first == {"stopped": ["triton-gpu0-s0"], "resumed": False} and FakeHost.drained == {"triton-gpu0-s0"}
    assert ("admin", "fail") in calls and ("docker", "rm", "-f", "triton-gpu0-s0") in calls
    record.write_text("measuring layout")                  # what the layouts wrote since
    assert host.begin({"gpu_uuid": "GPU-a", "gpu_index": 0}, CONFIG, print)["resumed"] is True
    assert json.loads((tmp / "measure.json").read_text())["record"] == json.dumps(RECORD)
    calls.clear()
    assert host.end({"tritons": ["triton-gpu0-s0"]}, CONFIG, print)["restored"] is True
    assert json.loads(record.read_text()) == RECORD
    assert calls == [("docker", "rm", "-f", "triton-gpu0-s0"), ("replay", ["GPU-a"]), ("admin", "ok")]
    assert FakeHost.started == 1 and not (tmp / "measure.json").exists()
    assert host.end({}, CONFIG, print) == {"restored": False}     # nothing left to restore
