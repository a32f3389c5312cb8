"""Property-based tests: generated inventories and driver outputs; only the tool's own errors come out.

Validation must answer every host data mapping with a list of InventoryError (never raise), and
every parser must either parse or raise ParseError. Examples are few and deadlines off, so the
suite stays within seconds on a shared machine.
"""
from __future__ import annotations

import string

from hypothesis import HealthCheck, given, settings, strategies as st

from migfleet.inventory import InventoryError, _schemas, validate_inventory
from migfleet.mig import smi as p

from tests.mig import docsamples as doc
from tests.mig import smigen

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

MODELS = ["NVIDIA A100-SXM4-40GB", "NVIDIA A100-SXM4-80GB", "NVIDIA H100 80GB HBM3", "NVIDIA H200",
          "NVIDIA \u0410100-SXM4-40GB", "", "Example X7"]
PROFILES = ["1g.5gb", "1g.10gb", "2g.10gb", "3g.20gb", "3g.40gb", "4g.20gb", "7g.40gb", "1g.5bg", 19, 9, 0, 99]
scalars = st.one_of(st.none(), st.booleans(), st.integers(-2, 10**12), st.floats(allow_nan=True),
                    st.text(max_size=8), st.sampled_from(PROFILES))
# Any JSON-ish value, and tuples and sets as Python inventories may hold.
anything = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.tuples(inner), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=8)

count = st.one_of(st.integers(0, 9), st.just(10**9), st.floats(0, 8), st.booleans())
instance = st.fixed_dictionaries({"profile": st.sampled_from(PROFILES)}, optional={
    "count": count, "placements": st.lists(st.one_of(st.integers(0, 8), st.floats(0, 8)), max_size=3),
    "compute": st.fixed_dictionaries({"profile": st.sampled_from(["1c.3g.20gb", "2c.3g.20gb", "3g.20gb", 0, 4, 7]),
                                      "count": count})})
selector = st.one_of(st.just("all"), st.just("alll"), st.lists(st.integers(-1, 9), max_size=3),
                     st.fixed_dictionaries({"index": st.integers(-1, 9)}),
                     st.fixed_dictionaries({"model": st.sampled_from(MODELS)}),
                     st.fixed_dictionaries({"uuid": st.sampled_from(
                         ["GPU-e77cc529-0a1f-4c3b-9d2e-1f2a3b4c5d6e", "GPU-e77cc529-0a1f-4c3b-9d2e-1f2a3b4c5d6e\n",
                          "GPU-x"])}), anything)
rule = st.fixed_dictionaries({"gpus": selector}, optional={
    "mig": st.one_of(st.booleans(), anything), "instances": st.one_of(st.lists(instance, max_size=4), anything)})
host_data = st.fixed_dictionaries({}, optional={
    "gpu_models": st.one_of(st.lists(st.sampled_from(MODELS), max_size=8), anything),
    "gpu_uuids": st.lists(st.sampled_from(["GPU-e77cc529-0a1f-4c3b-9d2e-1f2a3b4c5d6e",
                                           "GPU-5c89852c-d268-c3f3-1b07-005d5ae1dc3f"]), max_size=3),
    "mig_layout": st.one_of(st.lists(rule, max_size=4), anything),
    "mig_models": st.one_of(anything, st.just({"Example X7": {"architecture": "Hopper", "memory_mib": 1, "profiles": [
        {"id": 1, "name": "1g.10gb", "slices": 1, "instances": 4, "placements": [[0, 2], [9, 2]]}]}})),
    "triton_port_base": st.one_of(st.integers(0, 70000), anything),
    "envoy_http_port": st.integers(0, 70000), "envoy_grpc_port": st.integers(0, 70000),
    "rollout_batch_size": st.one_of(st.integers(-1, 5), anything), "rollout_batch_percent": anything,
    "rollout_max_failures": anything, "ssh_password": anything,
}).flatmap(lambda d: st.dictionaries(st.text(string.ascii_lowercase + "_\u0430", max_size=12), anything,
                                     max_size=2).map(lambda extra: {**extra, **d}))


@FAST
@given(st.dictionaries(st.sampled_from(["h1", "h2", "h\u04301"]), host_data, max_size=3))
def test_validation_never_raises_and_every_line_is_plain_ascii(hosts):
    errors = validate_inventory(hosts)
    assert all(isinstance(e, InventoryError) for e in errors)
    assert errors or hosts
    for e in errors:
        line = str(e)
        assert line.isascii() and "\n" not in line and e.path.startswith("$")


@FAST
@given(st.integers(0, 4), st.integers(0, 7), st.booleans(), st.data())
def test_generated_snapshots_parse_and_damaged_ones_raise_parse_error(n_gpus, n_gis, old_form, data):
    gpus = [smigen.seven_1g(f"GPU-{i:08x}-2222-3333-4444-555555555555", gis=n_gis) for i in range(n_gpus)]
    sections = smigen.sections(gpus, old_form)
    if n_gpus:
        states = p.parse_snapshot(doc.snapshot(sections))
        assert [len(s.mig_devices) for s in states.values()] == [n_gis] * n_gpus
    # Damage one section: drop, duplicate or cut lines; the result is parsed or refused, never a crash.
    name = data.draw(st.sampled_from(sorted(sections)))
    rc, text = sections[name]
    lines = text.splitlines()
    op = data.draw(st.sampled_from(["drop", "dup", "cut", "garble"]))
    if lines:
        i = data.draw(st.integers(0, len(lines) - 1))
        lines = {"drop": lines[:i] + lines[i + 1:], "dup": lines[:i + 1] + lines[i:], "cut": lines[:i],
                 "garble": lines[:i] + [lines[i][::-1]] + lines[i + 1:]}[op]
    try:
        p.parse_snapshot(doc.snapshot(dict(sections, **{name: (rc, "\n".join(lines))})))
    except p.ParseError:
        pass


PARSERS = [p.parse_query_gpu, p.parse_list, p.parse_lgi, p.parse_lci, p.parse_lgip, p.parse_lgipp,
           p.parse_query_xml, p.parse_snapshot]
SAMPLES = [doc.QUERY_TWO_3G, doc.L_TWO_3G, doc.LGI_TWO_3G, doc.LCI_TWO_3G, doc.LGIP_A100,
           doc.LGIPP_A100, doc.XML_TWO_3G, doc.snapshot(doc.TWO_3G_SECTIONS)]


@FAST
@given(st.sampled_from(range(len(PARSERS))), st.data())
def test_parsers_answer_any_mutation_with_a_result_or_parse_error(k, data):
    text = SAMPLES[k]
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, min(len(text), start + 40)))
    junk = data.draw(st.text(alphabet=string.printable + "\u0410\x00", max_size=12))
    try:
        PARSERS[k](text[:start] + junk + text[end:])
    except p.ParseError:
        pass


_loop: list = []
_loop.append(_loop)
_shared = [[[["x"] * 30] * 30] * 30] * 30          # 810,000 leaves once expanded, 4 lists in memory
hostile = st.sampled_from([10 ** 400, -10 ** 5000, 2 ** 63, float("nan"), 1e308, "x" * 100_000, "\u0410" * 5000,
                           "NGC_API_KEY=nvapi-" + "a" * 40, "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA", _loop, _shared,
                           [0] * 100_000, {"k" * 10_000: 1}, {10 ** 400: 1}, "fe80::1%eth0/64", "0.0.0.0:8000",
                           "\uff11\uff19", "GPU-" + "E" * 36, ("t",) * 2000, frozenset(range(5000))])
hostile_data = st.dictionaries(st.sampled_from(sorted(_schemas()[1]) + ["x" * 5000, "mig_layuot"]),
                               st.one_of(hostile, anything), max_size=5)


@FAST
@given(st.dictionaries(st.sampled_from(["h1", "h 2", "h" * 5000, "@local"]), hostile_data, min_size=1, max_size=3))
def test_hostile_values_give_a_bounded_report(hosts):
    """Huge, deep, shared, secret-looking and look-alike values: a report, and never more than 10 kB."""
    from migfleet.inventory import check_inventory, format_errors
    report = check_inventory(hosts)
    text = format_errors(report.errors) + format_errors(report.warnings)
    assert len(text.encode()) <= 2 * 8_500
    assert "nvapi-" not in text and "BEGIN OPENSSH" not in text
    assert all(len(str(e)) <= 1200 for e in report.errors + report.warnings)
