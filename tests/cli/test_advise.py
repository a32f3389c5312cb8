"""`migfleet advise` end to end on an inventory folder: proposal, --write, the re-run that proposes nothing, bad inputs."""
import http.server
import json
import runpy
import threading

import pytest
import pyinfra_cli.util as pyinfra_util

from migfleet.cli import advise, validate
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
        '    {"gpus": "all", "instances": [{"profile": "1g.5gb", "count": 2}]},\n]\n\ntriton_model_repository = "models"\n')
    (tmp_path / "capacity.json").write_text(json.dumps(CAPACITY))
    for model in ("a", "b"):        # the model repository validate checks
        (tmp_path / "models" / model / "1").mkdir(parents=True)
        (tmp_path / "models" / model / "config.pbtxt").write_text(f'name: "{model}"\nbackend: "python"\n')
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
    assert module["mig_reboot_policy"] == "never" and module["triton_model_repository"] == "models"     # the rest of the module stays
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


@pytest.mark.parametrize("rule", [
    {"gpus": "all", "instances": [{"profile": "1g.5gb", "count": "7"}]},
    {"gpus": "all", "instances": [{"count": 2}]},
    "all",
])
def test_the_inventory_is_checked_as_validate_checks_it_and_nothing_is_solved(fleet, capsys, rule):
    (fleet / "group_data" / "fleet.py").write_text(f"mig_layout = [{rule!r}]\n")
    assert validate.main(["fleet.py"]) == 1
    said = capsys.readouterr().err
    code, out, err = run(capsys, "fleet.py", "--demand-file", demand_file(fleet / "d.json", 1, 1), "--json")
    assert (code, out) == (1, "")
    assert err == said + "migfleet advise: fleet.py has errors (above): nothing solved\n"
    assert "Traceback" not in err and "h1: $.mig_layout[0]" in err


@pytest.mark.parametrize("flags, message", [
    (["--time-limit", "-5"], "argument --time-limit: wants a number above 0 and at most 86400 seconds (a day), not '-5'"),
    (["--time-limit", "nan"], "argument --time-limit: wants a number above 0 and at most 86400 seconds (a day), not 'nan'"),
    (["--time-limit", "inf"], "argument --time-limit: wants a number above 0 and at most 86400 seconds (a day), not 'inf'"),
    (["--time-limit", "1e9"], "argument --time-limit: wants a number above 0 and at most 86400 seconds (a day), not '1e9'"),
    (["--time-limit", "soon"], "argument --time-limit: wants a number, not 'soon'"),
    (["--window", "garbage"], "argument --window: 'garbage' is not a Prometheus duration such as 30m, 1h or 1d"),
    (["--window", "0s"], "argument --window: '0s' is not a Prometheus duration such as 30m, 1h or 1d (above 0 and at "
                         "most 10y)"),
    (["--window", "1h1h"], "argument --window: '1h1h' is not a Prometheus duration such as 30m, 1h or 1d"),
    (["--headroom", "0.5"], "argument --headroom: wants a number from 1 to 100, not '0.5'"),
    (["--headroom", "nan"], "argument --headroom: wants a number from 1 to 100, not 'nan'"),
    (["--headroom", "1e308"], "argument --headroom: wants a number from 1 to 100, not '1e308'"),
    (["--keep-headroom", "0"], "argument --keep-headroom: wants a number above 0 and at most 100, not '0'"),
    (["--keep-headroom", "2"], "argument --keep-headroom: wants at most --headroom (1.3), not 2"),
    (["--timeout", "0"], "argument --timeout: wants a number above 0 and at most 600 seconds, not '0'"),
    (["--timeout=-inf"], "argument --timeout: wants a number above 0 and at most 600 seconds, not '-inf'"),
])
def test_flags_out_of_range_are_usage_errors_in_one_line(fleet, capsys, flags, message):
    with pytest.raises(SystemExit) as e:
        advise.main(["fleet.py", "--demand-file", demand_file(fleet / "d.json", 1, 1), *flags])
    out, err = capsys.readouterr()
    assert e.value.code == 2 and out == ""
    assert err.splitlines()[-1] == f"migfleet advise: error: {message}"
    assert err.startswith("usage: migfleet advise") and "Traceback" not in err


def test_json_is_one_document_naming_models_left_without_an_instance_and_warnings_go_to_stderr(fleet, capsys):
    # b fits no instance of an A100-40GB (50,000 MiB) and has no rate: no instance can load it.
    cap = json.loads(json.dumps(CAPACITY))
    cap["models"]["b"]["memory_mib"] = 50_000
    for entry in cap["gpus"][A100].values():
        del entry["rps"]["b"]
    (fleet / "capacity.json").write_text(json.dumps(cap))
    rates = {("h1", "a"): 40.0, ("h1", "b"): 8.0, ("h2", "a"): 1.0, ("h2", "zz"): 3.0, ("h9", "a"): 1.0}
    (fleet / "d.json").write_text(json.dumps(answers(rates)))
    code, out, err = run(capsys, "fleet.py", "--demand-file", "d.json", "--capacity", "capacity.json", "--json")
    assert code == 0, err
    doc = json.loads(out)           # the whole of stdout is one document
    hosts = {h["host"]: h for h in doc["hosts"]}
    assert hosts["h1"]["models_without_instance"] == ["b"] and hosts["h2"]["models_without_instance"] == []
    assert doc["unknown_hosts"] == ["h9"] and doc["failed_hosts"] == {}
    warnings = [line.removeprefix("warning: ") for line in err.splitlines()]
    assert warnings[:3] == [
        "demand for host(s) not in the inventory, left out: h9",
        "h2: demand for model(s) not in its model repository nor its mig_layout, left out: zz",
        f"h1: no capacity known for b on {A100}: its demand counts as unmet until the capacity table (--capacity) "
        "gives its rates"]
    assert warnings == doc["notes"]
    code, out, err = run(capsys, "fleet.py", "--demand-file", "d.json", "--capacity", "capacity.json")
    assert "  -> left without an instance: b" in out.splitlines() and "warning" not in out


def test_a_host_that_cannot_be_solved_is_named_and_the_others_are_solved(fleet, capsys, monkeypatch):
    from migfleet.advise import fleet as solver, report
    real = solver.solve_host

    def solve(problem, time_limit=None, **kw):
        if problem.host == "h1":
            raise report.SolveError("HiGHS found no solution: the model is infeasible")
        return real(problem, time_limit, **kw)
    monkeypatch.setattr(solver, "solve_host", solve)      # hosts solved here (--workers 1), where the patch is
    code, out, err = run(capsys, "fleet.py", "--demand-file", demand_file(fleet / "d.json", 40, 8),
                         "--capacity", "capacity.json", "--json", "--write", "--workers", "1")
    doc = json.loads(out)
    assert code == 1 and [h["host"] for h in doc["hosts"]] == ["h2"]
    assert doc["failed_hosts"] == {"h1": "h1: HiGHS found no solution: the model is infeasible"}
    assert err.splitlines() == ["migfleet advise: h1: HiGHS found no solution: the model is infeasible",
                                "migfleet advise: nothing written: 1 host(s) not solved"]


@pytest.mark.parametrize("rates, message", [
    ({}, "d.json: no demand found at all: request_rate has no sample for any host and model over 1h (does this "
         "Prometheus scrape Triton's metrics, with the host label of docs/METRICS.md?)"),
    ({("gpu-9", "a"): 1.0}, "d.json: no demand found for any host and model of the inventory (it names only host(s) "
                            "gpu-9; the host label is the inventory's host name, docs/METRICS.md)"),
    ({("h1", "zz"): 1.0}, "d.json: no demand found for any host and model of the inventory (every model it names is "
                          "unknown to its host)"),
    ({("h1", "../../etc/passwd"): 1.0}, "d.json: $.request_rate.data.result[0].metric.model: '../../etc/passwd' is not "
                                        "a model folder name (letters, digits, _ . -, not starting with . or -)"),
    ({("h1", "a"): 1e308}, "d.json: $.request_rate.data.result[0].value[1]: wants a finite number >= 0 and at most "
                           "1000000 requests/s, not '1e+308'"),
])
def test_demand_that_cannot_be_used_is_one_line(fleet, capsys, rates, message):
    (fleet / "d.json").write_text(json.dumps(answers(rates)))
    code, out, err = run(capsys, "fleet.py", "--demand-file", "d.json", "--capacity", "capacity.json", "--json")
    assert (code, out, err.splitlines()[-1:]) == (1, "", [f"migfleet advise: {message}"])
