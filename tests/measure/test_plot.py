"""Plots of a table: one image per GPU model, from the rates advise would use."""
import json

from migfleet.advise import capacity
from migfleet.measure import plot

GPU = "NVIDIA A100-SXM4-40GB"


def pt(rate, p99):
    return {"max_batch_size": 0, "instance_count": 1, "concurrency": 1, "rate": rate, "p50_ms": 1, "p95_ms": 1,
            "p99_ms": p99, "memory_mib": 0}


def test_one_image_per_gpu_model_from_the_rates_at_the_target(tmp_path):
    table = tmp_path / "t.json"
    table.write_text(json.dumps({"version": 2, "models": {"a": {"p99_ms": 10}}, "gpus": {GPU: {
        "3g.20gb": {"points": {"a": [pt(300, 5), pt(900, 50)]}}, "1g.5gb": {"points": {"a": [pt(100, 5)]}}}}}))
    assert plot.rates(capacity.load([table]), GPU) == {"a": {"1g.5gb": 100.0, "3g.20gb": 300.0}}
    (png,) = plot.draw(table, tmp_path / "plots")
    assert png.name == "NVIDIA_A100-SXM4-40GB.png" and png.read_bytes().startswith(b"\x89PNG")
