import json
from dataclasses import replace

import pytest

from migfleet.fleet import checks as spec_checks
from migfleet.fleet import drift as fleet_drift
from migfleet.fleet.checks import Mismatch
from migfleet.fleet.ssh import FleetError, FleetHost
from migfleet.mig import catalog
from migfleet.sections import MARK, SectionError
from migfleet.serving import settings as serving_settings
from migfleet.serving.containers import ContainerParseError

from .captures import snapshot, snapshot_text

GPU0 = "GPU-a0d11e01-114d-c41d-cf0d-5741a1004c79"
GPU1 = "GPU-5b2f7c0e-93a1-4d0b-8c55-0e7d2f6a9b13"


def geometry_for(gpu):
    return catalog.lookup(gpu.name)


def drift(rules, live=None):
    return spec_checks.compare_host("h1", live or snapshot("h100-mixed"), rules, geometry_for)


def test_counts_without_placements_compare_with_the_planners_choice():
    # the live layout is the only way to place these counts: the planner finds it, no drift
    same = [{"gpus": [0], "instances": [{"profile": "3g.40gb", "count": 1}, {"profile": "1g.10gb", "count": 2},
                                        {"profile": "2g.20gb", "count": 1,
                                         "compute": {"profile": "1c.2g.20gb", "count": 2}}]},
            {"gpus": [1], "mig": False}]
    assert drift(same) == []
    # 3g + 2 x 1g: the planner keeps the 3g.40gb at 4 and the 1g.10gb at 2 and 3 where they are and
    # destroys the 2g.20gb: drift names exactly that one difference, as the deploy would change it
    fewer = [{"gpus": [0], "instances": [{"profile": "3g.40gb", "count": 1}, {"profile": "1g.10gb", "count": 2}]}]
    found = {m.field: (m.expected, m.found) for m in drift(fewer)}
    assert found == {"GPU instance at slice 0": ("none", "2g.20gb (ID 14) at slice 0 with CIs 2 x 1c.2g.20gb")}


def test_mode_difference_names_gpu_and_both_values():
    rules = [{"gpus": "all", "mig": False}]
    found = drift(rules)
    assert found == [Mismatch("h1", 0, GPU0, "MIG mode", "disabled", "enabled")]
    assert str(found[0]) == f"h1 GPU 0 (00000000:00:06.0, {GPU0}): MIG mode: expected disabled, found enabled"


def test_missing_and_extra_instances_field_by_field():
    rules = [{"gpus": [0], "instances": [{"profile": "3g.40gb", "placements": [4]},
                                         {"profile": "1g.10gb", "placements": [2, 3, 1]}]},
             {"gpus": [1], "instances": [{"profile": "7g.80gb", "count": 1}]}]
    found = {(m.gpu_index, m.field): (m.expected, m.found) for m in drift(rules)}
    assert found == {
        (0, "GPU instance at slice 0"): ("none", "2g.20gb (ID 14) at slice 0 with CIs 2 x 1c.2g.20gb"),
        (0, "GPU instance at slice 1"): ("1g.10gb (ID 19) at slice 1", "none"),
        (1, "MIG mode"): ("enabled", "disabled"),
    }


def test_compute_instances_difference():
    rules = [{"gpus": [0], "instances": [{"profile": "3g.40gb", "placements": [4],
                                          "compute": {"profile": "1c.3g.40gb", "count": 3}},
                                         {"profile": "2g.20gb", "placements": [0],
                                          "compute": {"profile": 0, "count": 2}},
                                         {"profile": 19, "placements": [2, 3]}]}]
    found = drift(rules)
    assert found == [Mismatch("h1", 0, GPU0, "compute instances of 3g.40gb at slice 4",
                              "3 x 1c.3g.40gb", "1 x 3g.40gb")]


def test_rules_not_selecting_a_gpu_leave_it_out():
    rules = [{"gpus": [1], "mig": False}]
    assert drift(rules) == []


def test_layout_that_cannot_fit_is_reported_not_raised():
    rules = [{"gpus": [1], "instances": [{"profile": "3g.40gb", "count": 3}]}]
    (m,) = drift(rules)
    assert (m.gpu_index, m.field) == (1, "mig_layout") and "too many 3g.40gb" in m.found


def test_rule_for_missing_index():
    (m,) = drift([{"gpus": [5], "mig": False}])
    assert m.field == "mig_layout" and "GPU index 5" in m.found


def test_unknown_model_without_geometry():
    live = snapshot("h100-mixed")
    live[GPU1] = replace(live[GPU1], name="NVIDIA B300")
    (m,) = spec_checks.compare_host("h1", live, [{"gpus": [1], "instances": [{"profile": 19, "count": 1}]}],
                                    geometry_for)
    assert m.field == "geometry" and "NVIDIA B300" in m.expected


# ---------------------------------------------------------------- serving drift, from one read

SAME = [{"gpus": [0], "instances": [{"profile": "3g.40gb", "count": 1}, {"profile": "1g.10gb", "count": 2},
                                    {"profile": "2g.20gb", "count": 1, "compute": {"profile": "1c.2g.20gb", "count": 2}}]},
        {"gpus": [1], "mig": False}]
ADMIN = "http://127.0.0.1:9901"


def container(t, status="running"):
    return {"Name": "/" + t.name, "Id": "id-" + t.name, "State": {"Status": status}, "HostConfig": {"NetworkMode": "host"},
            "Config": {"Image": "tritonserver", "Env": [f"NVIDIA_VISIBLE_DEVICES={t.mig_uuid}"],
                       "Labels": {"migfleet.role": "triton", "migfleet.mig_uuid": t.mig_uuid}}}


def clusters_text(flags):
    """Envoy admin /clusters lines for {Triton: health flags}."""
    return "".join(f"triton_http::127.0.0.1:{t.ports.http}::health_flags::{f}\n"
                   f"triton_grpc::127.0.0.1:{t.ports.grpc}::health_flags::{f}\n" for t, f in flags.items())


def framed(containers, clusters, clusters_rc=0, models=""):
    return (snapshot_text("h100-mixed") + f"{MARK} containers\n{json.dumps(containers)}\n{MARK} rc=0\n"
            f"{MARK} clusters\n{clusters}\n{MARK} rc={clusters_rc}\n{MARK} models\n{models}\n{MARK} rc=0\n")


def host_drift(text, rules=SAME):
    host = FleetHost("lab-h1", {"mig_layout": rules})
    return fleet_drift.all_drift(host, fleet_drift.parse_live(text, ADMIN), geometry_for)


@pytest.fixture
def tritons():
    found = spec_checks.expected_tritons(snapshot("h100-mixed"), serving_settings.defaults())
    # GPU 0: 4 GIs, one with 2 CIs; GPU 1 has MIG disabled, so no Triton
    assert len(found) == 5 and {t.place.gpu_uuid for t in found} == {GPU0} and all(t.mig_uuid.startswith("MIG-") for t in found)
    return found


def test_a_serving_host_has_no_drift(tritons):
    text = framed([container(t) for t in tritons], clusters_text({t: "healthy" for t in tritons}))
    assert host_drift(text) == []


def test_each_stopped_triton_is_named_with_its_host_and_gpu(tritons):
    stopped = tritons[:2]
    text = framed([container(t, "exited" if t in stopped else "running") for t in tritons],
                  clusters_text({t: "/failed_active_hc" if t in stopped else "healthy" for t in tritons}))
    found = host_drift(text)
    assert {m.host for m in found} == {"lab-h1"} and all(m.gpu_index == 0 and m.gpu_uuid == GPU0 for m in found)
    for t in stopped:
        assert f"container {t.name} state" in {m.field for m in found}
        assert [m.found for m in found if m.field == f"Envoy cluster triton_http backend 127.0.0.1:{t.ports.http} "
                                                     f"({t.name})"] == ["/failed_active_hc"]
    assert len(found) == 2 * 3          # per stopped Triton: its state, and one unhealthy backend per cluster


def test_a_removed_triton_and_emptied_endpoints_are_drift_besides_the_mig_change(tritons):
    gone = tritons[-1]
    text = framed([container(t) for t in tritons if t is not gone], "")
    found = host_drift(text)
    assert f"Triton for {gone.mig_uuid}" in {m.field for m in found}
    absent = [m for m in found if m.found == "absent"]
    assert len(absent) == 2 * len(tritons) and {m.host for m in absent} == {"lab-h1"}
    fewer = [{"gpus": [0], "instances": [{"profile": "3g.40gb", "count": 1}, {"profile": "1g.10gb", "count": 2}]}]
    assert "GPU instance at slice 0" in {m.field for m in host_drift(text, fewer)}     # MIG drift still there


def test_envoy_not_answering_is_drift(tritons):
    text = framed([container(t) for t in tritons], "curl: (7) Failed to connect to 127.0.0.1 port 9901", 7)
    (m,) = host_drift(text)
    assert (m.host, m.field, m.expected) == ("lab-h1", "Envoy admin", f"answering at {ADMIN}")
    assert m.found.startswith("no answer (exit code 7: curl: (7) Failed to connect")


def test_what_drift_cannot_read_is_quoted(tritons):
    with pytest.raises(ContainerParseError, match="not JSON"):
        fleet_drift.parse_live(framed([], "").replace("[]", "Cannot connect to the Docker daemon"), ADMIN)
    with pytest.raises(SectionError, match="clusters"):
        fleet_drift.parse_live(snapshot_text("h100-mixed"), ADMIN)
    command = fleet_drift.live_command(fleet_drift.admin_url(dict(serving_settings.defaults(), envoy_admin_port=9911)))
    assert "curl -sfS -m 5 http://127.0.0.1:9911/clusters" in command and "docker inspect" in command


def test_read_fleet_keeps_each_hosts_error():
    hosts = [FleetHost("a", {}), FleetHost("b", {})]

    def read(host):
        if host.name == "b":
            raise FleetError("b: cannot connect to b:22: timed out")
        return "state of a"
    found = fleet_drift.read_fleet(hosts, read)
    assert list(found) == ["a", "b"] and found["a"] == "state of a"
    assert isinstance(found["b"], FleetError) and str(found["b"]) == "b: cannot connect to b:22: timed out"


def test_a_mig_only_host_is_read_and_compared_without_serving():
    command = fleet_drift.live_command(ADMIN, serving=False)
    assert "docker" not in command and "curl" not in command
    assert "docker" in fleet_drift.live_command(ADMIN) and "curl" in fleet_drift.live_command(ADMIN)
    # no Triton, no Envoy: a serving host would show every Triton missing, a mig_only host nothing
    text = framed([], "", clusters_rc=0)
    host = FleetHost("lab-h1", {"mig_layout": SAME, "mig_only": True})
    assert fleet_drift.all_drift(host, fleet_drift.parse_live(text, ADMIN), geometry_for) == []
    assert host_drift(text) != []


def test_each_tritons_models_are_read_and_compared_with_the_layout(tritons):
    rules = [{**SAME[0], "models": ["m1"]}, *SAME[1:]]
    host = FleetHost("lab-h1", {"mig_layout": rules})
    lines = "".join(f"== {t.name}\n" + json.dumps([{"name": "m1", "version": "1", "state": "READY"}] if i else
                                                  [{"name": "m2", "version": "1", "state": "READY"}]) + "\n"
                    for i, t in enumerate(tritons))
    clusters = clusters_text({t: "healthy" for t in tritons}) + "".join(
        f"triton_{p}.m1::127.0.0.1:{port}::health_flags::healthy\n"
        for t in tritons for p, port in (("http", t.ports.http), ("grpc", t.ports.grpc)))
    found = fleet_drift.all_drift(host, fleet_drift.parse_live(framed([container(t) for t in tritons], clusters,
                                                                     models=lines), ADMIN), geometry_for)
    assert [(m.field, m.expected, m.found) for m in found] == [(f"{tritons[0].name} models", "m1", "m2")]
    assert "/v2/repository/index" in fleet_drift.live_command(ADMIN)


def test_drift_parses_a_hosts_rules_once_for_mig_and_serving(tritons, monkeypatch):
    from migfleet.mig import desired
    parsed = []
    real = desired.desired_from_rule
    monkeypatch.setattr(desired, "desired_from_rule", lambda rule, where: parsed.append(where) or real(rule, where))
    host_drift(framed([], ""))
    assert parsed == [f"$.mig_layout[{n}]" for n in range(len(SAME))]


def test_a_model_whose_live_config_lacks_its_triton_settings_is_drift(tritons):
    """The models section carries each settings model's live config; one differing is reported."""
    from migfleet.fleet import model_checks
    from migfleet.mig.desired import ServedModel
    t = replace(tritons[0], models=("m",), settings=(ServedModel("m", 2, 0),))
    key = model_checks.config_key(t.name, "m")
    live = json.dumps({"max_batch_size": 0, "instance_group": [{"count": 1, "kind": "KIND_GPU"}]})
    (m,) = model_checks.compare_settings("h1", [t], {key: live})
    assert (m.field, m.expected, m.found) == (f"{t.name} m settings", "instance_count 2, max_batch_size 0",
                                              "instance_count 2, live 1")
    ok = json.dumps({"max_batch_size": 0, "instance_group": [{"count": 2}]})
    assert model_checks.compare_settings("h1", [t], {key: ok}) == []
    (gone,) = model_checks.compare_settings("h1", [t], {})
    assert gone.found == "no config ('')"
    parsed = fleet_drift.parse_live(framed([], "", models=f"== {t.name}\n[]\n== {key}\n{live}\n"), ADMIN)
    assert parsed.models[key].strip() == live
