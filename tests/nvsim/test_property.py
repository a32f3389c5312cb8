"""Random create/destroy/reset/boot sequences keep the state within MIG's rules."""
import json

from hypothesis import HealthCheck, given, settings, strategies as st_

from conftest import A100, H100, H200
from lab.nvsim import engine, state as st
from migfleet.mig import catalog

REFUSALS = ("Insufficient Resources", "In use by another client", "Not Found", "Invalid Argument",
            "No MIG-enabled devices found.")

op = st_.one_of(
    st_.tuples(st_.just("cgi"), st_.sampled_from([19, 20, 15, 14, 9, 5, 0]),
               st_.one_of(st_.none(), st_.integers(0, 7)), st_.booleans()),
    st_.tuples(st_.just("cci"), st_.integers(0, 14), st_.one_of(st_.none(), st_.integers(0, 4))),
    st_.tuples(st_.just("dci"), st_.integers(0, 14), st_.integers(0, 7)),
    st_.tuples(st_.just("dgi"), st_.integers(0, 14)),
    st_.tuples(st_.just("mig"), st_.booleans()),
    st_.tuples(st_.just("reset")),
    st_.tuples(st_.just("boot")),
)


def args_for(step) -> list[str] | None:
    kind = step[0]
    if kind == "cgi":
        spec = str(step[1]) + (f":{step[2]}" if step[2] is not None else "")
        return ["mig", "-cgi", spec] + (["-C"] if step[3] else [])
    if kind == "cci":
        return ["mig", "-gi", str(step[1]), "-cci"] + ([str(step[2])] if step[2] is not None else [])
    if kind == "dci":
        return ["mig", "-dci", "-gi", str(step[1]), "-ci", str(step[2])]
    if kind == "dgi":
        return ["mig", "-dgi", "-gi", str(step[1])]
    if kind == "mig":
        return ["-i", "0", "-mig", "1" if step[1] else "0"]
    if kind == "reset":
        return ["-r", "-i", "0"]
    return None


def check_invariants(gpu: dict) -> None:
    geo = catalog.lookup(gpu["model"])
    gis = gpu["gpu_instances"]
    if not gpu["mig_current"]:
        assert gis == []
    spans = []
    for gi in gis:
        profile = geo.profile(gi["profile_id"])
        assert (gi["start"], gi["size"]) in profile.placements
        assert gi["gi_id"] == engine.gi_id_for(gi["start"], gi["size"])
        for s, n in spans:
            assert gi["start"] + gi["size"] <= s or s + n <= gi["start"], "overlapping GIs"
        spans.append((gi["start"], gi["size"]))
        cis = gi["compute_instances"]
        assert sum(ci["size"] for ci in cis) <= profile.slices
        slots = [x for ci in cis for x in range(ci["start"], ci["start"] + ci["size"])]
        assert len(slots) == len(set(slots)) and all(0 <= x < profile.slices for x in slots)
    assert sum(geo.profile(gi["profile_id"]).slices for gi in gis) <= geo.compute_slices
    for p in geo.profiles:
        assert sum(1 for gi in gis if gi["profile_id"] == p.id) <= p.instances
    assert len({g["gi_id"] for g in gis}) == len(gis)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(model=st_.sampled_from([A100, H100, H200]), steps=st_.lists(op, max_size=25))
def test_random_sequences_keep_mig_rules(sim, model, steps):
    sim.init(model)
    for step in steps:
        args = args_for(step)
        before = json.loads(st.state_path(sim.root).read_text())
        if args is None:
            assert sim.ctl("boot") == 0
        else:
            out, rc = sim.smi(*args)
            if rc != 0:
                assert any(r in out for r in REFUSALS), out
                if step[0] in ("dgi", "dci", "cci") and "Unable" in out:
                    pass
                elif step[0] == "cgi":
                    after = json.loads(st.state_path(sim.root).read_text())
                    assert after["gpus"][0]["gpu_instances"] == before["gpus"][0]["gpu_instances"]
        gpu = json.loads(st.state_path(sim.root).read_text())["gpus"][0]
        check_invariants(gpu)
        if step[0] in ("reset", "boot") and (args is None or rc == 0):
            assert gpu["gpu_instances"] == []
