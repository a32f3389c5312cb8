"""`advise --size`: identical new hosts, their group data module (validated as written), the CLI's
text and JSON, and bad rates files refused in one line."""
import json
import runpy

import pytest
import pyinfra_cli.util as pyinfra_util

from migfleet.advise.capacity import parse
from migfleet.advise.size import Sizing, size
from migfleet.advise.size_demand import RatesError, parse as parse_rates
from migfleet.advise.size_hosts import plan, rules
from migfleet.advise.size_report import verdict
from migfleet.cli import advise, validate
from migfleet.mig import catalog
from tests.advise.helpers import answers

A100 = catalog.lookup("NVIDIA A100-SXM4-40GB")


def table() -> dict:
    def pts(rate, p99, batch=8, copies=2):
        return [{"max_batch_size": batch, "instance_count": copies, "concurrency": 4, "rate": rate, "p50_ms": p99 / 2,
                 "p95_ms": p99, "p99_ms": p99, "memory_mib": 2000},
                {"max_batch_size": 0, "instance_count": 1, "concurrency": 1, "rate": rate / 3, "p50_ms": p99 / 4,
                 "p95_ms": p99 / 2, "p99_ms": p99 / 2, "memory_mib": 1000}]
    return {"version": 2, "models": {"a": {"p99_ms": 50}, "b": {"p99_ms": 50}},
            "gpus": {A100.model: {"1g.5gb": {"points": {"a": pts(30, 40), "b": pts(20, 45)}},
                                  "3g.20gb": {"points": {"a": pts(80, 20), "b": pts(70, 25)}},
                                  "7g.40gb": {"points": {"a": pts(170, 10), "b": pts(150, 12)}}}}}


@pytest.fixture
def folder(tmp_path, monkeypatch):
    (tmp_path / "capacity.json").write_text(json.dumps(table()))
    (tmp_path / "rates.json").write_text(json.dumps({"models": {"a": {"rate": 300}, "b": {"rate": 120, "p99_ms": 30}}}))
    for model in ("a", "b"):
        (tmp_path / "models" / model / "1").mkdir(parents=True)
        (tmp_path / "models" / model / "config.pbtxt").write_text(f'name: "{model}"\nbackend: "python"\n')
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(capsys, *argv):
    pyinfra_util.PYTHON_CODES.clear()
    code = advise.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_hosts_are_alike_and_together_serve_the_demand():
    cap = parse(table(), "t")
    needs = {"a": 300.0, "b": 120.0}
    fleet = size(cap, A100, needs, cap.model_p99)
    p = plan(cap, A100, needs, cap.model_p99, 2, len(fleet.gpus), 30)
    assert len(p.host.gpus) <= 2 and p.hosts >= -(-len(fleet.gpus) // 2)
    served = p.host.served()
    assert all(served[m] * p.hosts >= needs[m] - 1e-6 for m in needs)
    got = rules(p, settings=True)
    assert sorted(i for r in got for i in r["gpus"]) == list(range(len(p.host.gpus)))
    models = [m for r in got for inst in r["instances"] for m in inst["models"]]
    assert all(set(m) == {"name", "instance_count", "max_batch_size"} for m in models)


def test_written_module_validates_and_lays_out_every_host(folder, capsys):
    code, out, err = run(capsys, "--size", A100.model, "--rates", "rates.json", "--capacity", "capacity.json",
                         "--headroom", "1", "--write", "group_data/sized.py", "--gpus-per-host", "2")
    assert code == 0, err
    assert "written to group_data/sized.py" in err and "migfleet rollout" in err
    data = runpy.run_path(str(folder / "group_data" / "sized.py"))
    assert data["gpu_models"] == [A100.model] * 2
    hosts = int(out.split("hosts: ")[1].split()[0])
    (folder / "fleet.py").write_text(f"sized = {[f'h{i}' for i in range(hosts)]!r}\n")
    (folder / "group_data" / "all.py").write_text('triton_model_repository = "models"\n')
    pyinfra_util.PYTHON_CODES.clear()
    assert validate.main(["fleet.py"]) == 0, capsys.readouterr()
    assert "2 host(s), no errors" in capsys.readouterr().out or hosts != 2
    again = run(capsys, "--size", A100.model, "--rates", "rates.json", "--capacity", "capacity.json",
                "--write", "group_data/sized.py")
    assert again[0] == 1 and "exists" in again[2] and again[1] == ""


def test_settings_are_written_only_when_asked(folder, capsys):
    code, _, err = run(capsys, "--size", A100.model, "--rates", "rates.json", "--capacity", "capacity.json",
                       "--write", "s.py", "--write-settings")
    assert code == 0, err
    layout = runpy.run_path(str(folder / "s.py"))["mig_layout"]
    models = [m for r in layout for inst in r["instances"] for m in inst["models"]]
    assert models and all(isinstance(m, dict) and m["max_batch_size"] in (0, 8) for m in models)


def test_json_holds_the_answer_the_baseline_and_the_bound(folder, capsys):
    code, out, err = run(capsys, "--size", A100.model, "--rates", "rates.json", "--capacity", "capacity.json",
                         "--headroom", "1", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["lower_bound"] <= doc["gpus"] <= doc["whole_gpu"]
    assert doc["models"]["b"]["p99_ms"] == 30 and doc["models"]["a"]["p99_ms"] == 50
    for gpu in doc["layouts"]:
        for inst in gpu["instances"]:
            target = doc["models"][inst["models"][0]["name"]]["p99_ms"]
            assert inst["p99_ms"] <= target
    assert all(doc["models"][m]["served"] >= doc["models"][m]["needs"] for m in doc["models"])


def test_demand_from_a_demand_file_is_summed_over_hosts_and_p99_flag_wins(folder, capsys):
    rates = {("h1", "a"): 100.0, ("h2", "a"): 200.0, ("h1", "b"): 60.0}
    (folder / "answers.json").write_text(json.dumps(answers(rates)))
    code, out, err = run(capsys, "--size", A100.model, "--demand-file", "answers.json", "--capacity", "capacity.json",
                         "--headroom", "1", "--p99-ms", "a=15", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["models"]["a"]["rate"] == 300 and doc["models"]["b"]["rate"] == 60
    assert doc["models"]["a"]["p99_ms"] == 15
    # a within 15 ms: only 7g.40gb's batched point (p99 10) or the others' unbatched ones (p99 10, 20 / 2)
    assert all(i["p99_ms"] <= 15 for g in doc["layouts"] for i in g["instances"] if i["models"][0]["name"] == "a")


def test_text_says_how_far_from_the_bound_when_stopped():
    s = Sizing(A100.model, {}, {}, proven=False, bound=3, program_bound=4)
    s.gpus = [None] * 6
    assert "at most 2 GPU(s) above the lower bound 4" in verdict(s)


@pytest.mark.parametrize("data, words", [
    ({"models": {"a": {"rate": -1}}}, "$.models.a.rate: wants a finite number >= 0"),
    ({"models": {"a": {"rate": 1, "p99": 3}}}, "$.models.a: wants {rate: requests/s, p99_ms: MS}"),
    ({"models": {"a": {"rate": 1, "p99_ms": 0}}}, "$.models.a.p99_ms: wants a finite number above 0"),
    ({"models": {"-x": {"rate": 1}}}, "is not a model folder name"),
    ({"rates": {}}, "wants `models:"),
    ({"models": {}}, "names no model"),
])
def test_bad_rates_name_the_field(data, words):
    with pytest.raises(RatesError, match=None) as exc:
        parse_rates(data, "r.json")
    assert words in str(exc.value) and str(exc.value).startswith("r.json")


def test_cli_refusals_are_one_line(folder, capsys):
    (folder / "bad.json").write_text('{"models": {"a": {"rate": "x"}}}')
    code, out, err = run(capsys, "--size", A100.model, "--rates", "bad.json", "--capacity", "capacity.json")
    assert code == 1 and out == "" and err.count("\n") == 1 and "bad.json: $.models.a.rate" in err
    code, out, err = run(capsys, "--size", "NVIDIA Z9", "--rates", "rates.json")
    assert code == 1 and "not a GPU model migfleet knows" in err
    (folder / "far.json").write_text(json.dumps({"models": {"a": {"rate": 10, "p99_ms": 1}}}))
    code, out, err = run(capsys, "--size", A100.model, "--rates", "far.json", "--capacity", "capacity.json")
    assert code == 1 and "a: no profile of NVIDIA A100-SXM4-40GB" in err
    with pytest.raises(SystemExit):
        advise.main(["--rates", "rates.json"])
    assert "only with --size" in capsys.readouterr().err
