import ast
import json

import pytest
import yaml

from migfleet.mig import catalog
from migfleet.fleet import export
from migfleet.fleet import checks as spec_checks
from migfleet.mig.state import ComputeInstance, GpuInstance

from .captures import snapshot

GPU0 = "GPU-a0d11e01-114d-c41d-cf0d-5741a1004c79"
GPU1 = "GPU-5b2f7c0e-93a1-4d0b-8c55-0e7d2f6a9b13"


def geometry_for(gpu):
    return catalog.lookup(gpu.name)


def test_rules_with_explicit_placements_per_gpu():
    rules = export.host_layout(snapshot("h100-mixed"))
    assert rules == [
        {"gpus": {"uuid": GPU0}, "instances": [
            {"profile": "2g.20gb", "placements": [0], "compute": {"profile": "1c.2g.20gb", "count": 2}},
            {"profile": "1g.10gb", "placements": [2, 3]},
            {"profile": "3g.40gb", "placements": [4]},
        ]},
        {"gpus": {"uuid": GPU1}, "mig": False},
    ]


def test_exported_layout_as_inventory_has_no_drift():
    live = snapshot("h100-mixed")
    rules = export.host_layout(live)
    assert spec_checks.compare_host("h1", live, rules, geometry_for) == []


def test_round_trip_through_every_output_format():
    live = snapshot("h100-mixed")
    rules = export.host_layout(live)
    assert json.loads(export.render_json({"h1": rules}))["h1"]["mig_layout"] == rules
    assert yaml.safe_load(export.render_yaml({"h1": rules}))["h1"]["mig_layout"] == rules
    data = {"ssh_hostname": "10.250.0.11", "ssh_user": "root", "mig_layout": "old", "triton_port_base": 1}
    text = export.render_python([("lab-h1", data, rules)], "inventories/lab.py")
    namespace: dict = {}
    exec(compile(text, "exported.py", "exec"), namespace)
    assert namespace["hosts"] == [("lab-h1", {"ssh_hostname": "10.250.0.11", "ssh_user": "root",
                                              "triton_port_base": 1, "mig_layout": rules})]
    ast.parse(text)
    with pytest.raises(export.ExportError, match="lab-h1: data key 'hook' holds function"):
        export.render_python([("lab-h1", {"hook": lambda: 1}, rules)], "x.py")


def test_compact_rule_when_all_gpus_match():
    live = snapshot("h100-mixed")
    gpu0 = live[GPU0]
    from dataclasses import replace
    twin = replace(gpu0, index=1, uuid=GPU1)
    rules = export.host_layout({GPU0: gpu0, GPU1: twin})
    assert len(rules) == 1 and rules[0]["gpus"] == "all"
    assert spec_checks.compare_host("h1", {GPU0: gpu0, GPU1: twin}, rules, geometry_for) == []
    assert len(export.host_layout({GPU0: gpu0, GPU1: twin}, compact=False)) == 2


def test_gi_without_compute_instance_is_refused():
    from dataclasses import replace
    gpu = snapshot("h100-mixed")[GPU0]
    bare = replace(gpu, compute_instances=tuple(c for c in gpu.compute_instances if c.gi_id != 3))
    with pytest.raises(export.ExportError, match=r"GPU 0 \(GPU-a0d1.*GPU instance 3 \(1g.10gb at slice 2\) has no compute"):
        export.gpu_instances(bare)


def test_mixed_compute_profiles_are_refused():
    from dataclasses import replace
    gpu = snapshot("h100-mixed")[GPU0]
    cis = tuple(c for c in gpu.compute_instances if c.gi_id != 1) + (
        ComputeInstance(1, 0, 0, "1c.3g.40gb", 0, 1), ComputeInstance(1, 1, 1, "2c.3g.40gb", 1, 2))
    with pytest.raises(export.ExportError, match="mixes compute profiles 1c.3g.40gb, 2c.3g.40gb"):
        export.gpu_instances(replace(gpu, compute_instances=cis))


def test_pending_mode_warned():
    from dataclasses import replace
    live = snapshot("h100-mixed")
    live[GPU1] = replace(live[GPU1], mig_pending=True)
    (w,) = export.warnings("h1", live)
    assert "GPU 1" in w and "pending (enabled after reset)" in w
    assert export.host_layout(live)[1] == {"gpus": {"uuid": GPU1}, "mig": False}


def test_models_each_instance_serves_are_exported_per_instance():
    from migfleet.serving import settings as serving_settings
    from migfleet.serving import triton
    gpus = snapshot("h100-mixed")
    tritons = triton.live_specs(gpus, serving_settings.defaults())
    ready = {t.name: json.dumps([{"name": "a" if t.place.profile == "3g.40gb" else "b", "state": "READY"}])
             for t in tritons}
    # one compute instance's Triton does not answer: its sibling on the same GPU instance still tells
    models = export.live_models(tritons, {**ready, "triton-gpu0-s0-c1": "curl: (7)"})
    rules = export.host_layout(gpus, models=models)
    assert [(i["profile"], i["placements"], i.get("models")) for i in rules[0]["instances"]] == [
        ("2g.20gb", [0], ["b"]), ("1g.10gb", [2, 3], ["b"]), ("3g.40gb", [4], ["a"])]
    assert export.host_layout(gpus) == export.host_layout(gpus, models={})      # nothing asked: no models
