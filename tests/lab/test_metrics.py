"""Every MIG instance seen by a real Prometheus: after a bounded load through every host's Envoy,
the lab's Prometheus (scraping http://HOST:8002/metrics from `migfleet targets`) holds Triton's
request counters for every instance, labelled with the MIG layout; and the endpoint refuses a
scraper outside its allow list."""
from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request

import pytest

from labtools import REPO, deploy
from test_serving_stack import PAIRS, address_of, infer_http, tritons_on

pytestmark = pytest.mark.lab
LABELS = {"host", "gpu", "gpu_uuid", "gi", "profile", "mig_uuid"}


def prometheus(query: str) -> list[dict]:
    url = "http://10.250.0.1:9090/api/v1/query?" + urllib.parse.urlencode({"query": query})
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.load(r)["data"]["result"]


def test_prometheus_holds_request_counters_for_every_mig_instance(deployed):
    lab = deployed
    tritons = {name: tritons_on(lab, name) for name in lab.names}
    for name in lab.names:                      # a bounded load: a few requests per Triton
        for i in range(3 * len(tritons[name])):
            infer_http(address_of(lab, name), PAIRS[i % len(PAIRS)][0])
    want = sum(len(t) for t in tritons.values())
    deadline, series = time.monotonic() + 60, []
    while time.monotonic() < deadline:
        series = prometheus('sum by (host, gpu, gpu_uuid, gi, profile, mig_uuid) (nv_inference_request_success)')
        if len(series) >= want and all(float(s["value"][1]) > 0 for s in series):
            break
        time.sleep(2)
    assert len(series) == want, f"{len(series)} instances with counters, {want} Tritons: {series}"
    for s in series:
        assert LABELS <= set(s["metric"]) and s["metric"]["mig_uuid"].startswith("MIG-"), s
        assert float(s["value"][1]) > 0, s
    assert {s["metric"]["host"] for s in series} == set(lab.names)


def test_a_scraper_outside_the_allow_list_is_refused(deployed, tmp_path):
    lab, target, other = deployed, "lab-h2", "lab-h1"
    inventory = tmp_path / "lab_allow.py"
    inventory.write_text("import runpy\n"
                         f"_hosts, _data = runpy.run_path({str(REPO / 'inventories' / 'lab.py')!r})['lab']\n"
                         f"lab = ([(n, {{**d, 'metrics_allow_networks': ['10.250.0.1/32']}}) if n == {target!r} "
                         "else (n, d) for n, d in _hosts], _data)\n")
    try:
        deploy("--limit", target, inventory=inventory)
        url = f"http://{address_of(lab, target)}:8002/metrics"
        with urllib.request.urlopen(url, timeout=10) as r:       # from 10.250.0.1: allowed
            assert r.status == 200 and b"nv_inference_request_success" in r.read()
        refused = lab.ssh(other, f"curl -s -o /dev/null -w '%{{http_code}}' --max-time 5 {url}", check=False)
        assert refused.stdout.strip() in ("000", "") and refused.returncode != 0, refused
    finally:
        deploy("--limit", target)
