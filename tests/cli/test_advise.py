"""`migfleet advise` end to end on an inventory folder: proposal, --write, the re-run that proposes nothing, bad inputs."""
import http.server
import json
import runpy
import threading

import pytest
import pyinfra_cli.util as pyinfra_util

from migfleet.cli import advise
from tests.advise.helpers import answers

A100 = "NVIDIA A100-SXM4-40GB"
CAPACITY = {"version": 1, "p99_ms": 50, "models": {"a": {"memory_mib": 1000}, "b": {"memory_mib": 1000}},
            "gpus": {A100: {"1g.5gb": {"rps": {"a": 10, "b": 10}}, "2g.10gb": {"rps": {"a": 19, "b": 19}},
                            "3g.20gb": {"rps": {"a": 28, "b": 28}}, "7g.40gb": {"rps": {"a": 60, "b": 60}}}}}


@pytest.fixture
def fleet(tmp_path, monkeypatch):
    (tmp_path / "group_data").mkdir()
    (tmp_path / "fleet.py").write_text(
        f"fleet = [('h1', {{'gpu_models': [{A100!r}]}}), ('h2', {{'gpu_models': [{A100!r}]}})]\n")
    (tmp_path / "group_data" / "fleet.py").write_text(
        '"""Layouts."""\n\nmig_reboot_policy = "never"\n\nmig_layout = [\n'
        '    {"gpus": "all", "instances": [{"profile": "1g.5gb", "count": 2}]},\n]\n\nextra = 1\n')
    (tmp_path / "capacity.json").write_text(json.dumps(CAPACITY))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def demand_file(path, a, b):
    rates = {(h, "a"): a for h in ("h1", "h2")} | {(h, "b"): b for h in ("h1", "h2")}
    path.write_text(json.dumps(answers(rates)))
    return str(path)


def run(capsys, *argv):
    # pyinfra keeps each inventory file's compiled code for the process; a command is a new process.
    pyinfra_util.PYTHON_CODES.clear()
    code = advise.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_skewed_demand_proposes_more_for_a_then_nothing_once_written(fleet, capsys):
    skewed = demand_file(fleet / "demand.json", 40.0, 8.0)     # a 5x b; today 2 x 1g serve 10 each
    code, out, err = run(capsys, "fleet.py", "--demand-file", skewed, "--capacity", "capacity.json", "--write")
    assert code == 0, err
    assert "proposed" in out and "2 GPU(s) to change" in out
    module = runpy.run_path(str(fleet / "group_data" / "fleet.py"))
    assert module["mig_reboot_policy"] == "never" and module["extra"] == 1     # the rest of the module stays
    [rule] = module["mig_layout"]
    assert rule["gpus"] == {"model": A100}
    slots_of = {m: sum(len(i["placements"]) * int(i["profile"][0]) for i in rule["instances"] if m in i.get("models", "ab"))
                for m in ("a", "b")}
    assert slots_of["a"] > slots_of["b"]          # more of the GPU for a
    # The demand it was made for, and demand within the headroom: nothing.
    for a, b in ((40.0, 8.0), (44.0, 9.0), (20.0, 4.0)):
        code, out, _ = run(capsys, "fleet.py", "--demand-file", demand_file(fleet / "d2.json", a, b),
                           "--capacity", "capacity.json")
        assert code == 0 and "advise: nothing to change" in out, out


def test_prometheus_down_is_one_line(fleet, capsys):
    code, out, err = run(capsys, "fleet.py", "--prometheus", "http://127.0.0.1:9", "--timeout", "2")
    assert code == 1 and "did not answer" in err and "Traceback" not in err and len(err.splitlines()) == 1


class _Odd(http.server.BaseHTTPRequestHandler):
    body = b"<html>not prometheus</html>"

    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("body, words", [
    (b"<html>not prometheus</html>", "not the API's JSON"),
    (json.dumps({"status": "error", "errorType": "bad_data", "error": "parse error"}).encode(), "bad_data parse error"),
    (json.dumps({"status": "success", "data": {"resultType": "matrix", "result": []}}).encode(), "instant vector"),
])
def test_prometheus_answering_oddly_is_one_line(fleet, capsys, body, words):
    handler = type("H", (_Odd,), {"body": body})
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        code, _, err = run(capsys, "fleet.py", "--prometheus", f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
    assert code == 1 and words in err and "Traceback" not in err


def test_bad_capacity_table_names_the_field(fleet, capsys):
    (fleet / "bad.yaml").write_text("version: 1\ngpus:\n  NVIDIA A100-SXM4-40GB:\n    9g.99gb: {rps: {a: 1}}\n")
    code, _, err = run(capsys, "fleet.py", "--demand-file", demand_file(fleet / "d.json", 1, 1), "--capacity", "bad.yaml")
    assert code == 1 and "9g.99gb" in err and "no such profile" in err
