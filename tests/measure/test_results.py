"""Points appended one line each, read back for a re-run (a line cut short by a stopped run is
measured again), and the version-2 table made from them, read by advise's capacity reader."""
import json

import pytest

from migfleet.advise import capacity
from migfleet.measure.grid import Setting
from migfleet.measure.results import Results, ResultsError, points_path, table, write_table

GPU = "NVIDIA H100 80GB HBM3"
S = Setting("3g.40gb", "m", 8, 2)


def row(c, rate=100.0, p99=5.0):
    return {"concurrency": c, "rate": rate, "p50_ms": 1.0, "p95_ms": 2.0, "p99_ms": p99, "memory_mib": 900.0}


def test_points_survive_a_reread_and_a_line_cut_short(tmp_path):
    path = points_path(tmp_path / "cap.json")
    assert path.name == "cap.json.points.jsonl"
    r = Results(path)
    r.add_source({"command": "migfleet measure x", "host": "h", "gpu": GPU}, {"m": 20.0})
    r.add_point(GPU, S, row(1))
    r.add_point(GPU, S, row(2))
    path.write_text(path.read_text() + '{"point": {"gpu": "NVIDIA H')     # killed mid-write
    again = Results(path)
    assert [p["concurrency"] for p in again.of(GPU, S)] == [1, 2]
    again.add_point(GPU, S, row(4))
    assert [p["concurrency"] for p in Results(path).of(GPU, S)] == [1, 2, 4]
    assert Results(path).of(GPU, Setting("3g.40gb", "m", 0, 2)) == []


def test_a_bad_line_before_the_last_is_named(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"nonsense": 1}\n{"source": {}}\n')
    with pytest.raises(ResultsError, match=r"p.jsonl: line 1: not a measured point \(neither a point nor a source\)"):
        Results(path)


def test_the_table_is_version_2_and_advise_reads_it(tmp_path):
    r = Results(tmp_path / "p.jsonl")
    r.add_source({"command": "migfleet measure x", "host": "h", "gpu": GPU, "driver": "550", "triton": "2.51.0",
                  "date": "2026-12-07T19:00:00Z"}, {"m": 20.0})
    for c, rate, p99 in ((1, 100.0, 5.0), (2, 180.0, 12.0), (4, 260.0, 25.0)):
        r.add_point(GPU, S, row(c, rate, p99))
    data = table(r)
    assert data["version"] == 2 and data["models"] == {"m": {"memory_mib": 900.0, "p99_ms": 20.0}}
    assert [p["concurrency"] for p in data["gpus"][GPU]["3g.40gb"]["points"]["m"]] == [1, 2, 4]
    for name in ("cap.json", "cap.yaml"):
        write_table(tmp_path / name, r)
        cap = capacity.load([tmp_path / name])
        assert cap.rps(GPU, "3g.40gb", "m") == 180.0            # the 260/s point's p99 is over 20 ms
    assert json.loads((tmp_path / "cap.json").read_text()) == data
