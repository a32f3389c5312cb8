"""Changes under load: a MIG layout change and a model repository change on a host while HTTP and
gRPC clients send requests through its Envoy. No request fails, Envoy is never restarted, and the
Tritons of instances that do not change keep their containers."""
from __future__ import annotations

import json
import shutil

import pytest

from labtools import REPO, deploy
from test_serving_stack import (
    CHANGED_GPU, CHANGED_HOST, CHANGED_INSTANCES, ClientLoop, address_of, changed_inventory, check_routes_to_every_triton,
    gpu_uuids, tritons_on,
)

pytestmark = pytest.mark.lab


def envoy_state(lab, name: str) -> tuple[str, str, int]:
    """(container id, start time, restart count) of the host's Envoy."""
    out = lab.ssh(name, "docker inspect migfleet-envoy", timeout=30).stdout
    item = json.loads(out)[0]
    return item["Id"], item["State"]["StartedAt"], item["RestartCount"]


def under_load(lab, name: str, stop_file, change) -> ClientLoop:
    """Run `change()` while a client loop (HTTP and gRPC, alternately) runs against the host's Envoy."""
    client = ClientLoop(address_of(lab, name), stop_file, limit=200_000, seconds=600)
    try:
        change()
    finally:
        client.finish(timeout=120)
    return client


def assert_no_failure(client: ClientLoop, what: str) -> None:
    assert client.sent >= 50, f"only {client.sent} requests during {what}"
    assert not client.failures, f"{len(client.failures)} of {client.sent} requests failed during {what}:\n" + \
        "\n".join(client.failures[:10])


def test_layout_change_under_load_fails_no_request(deployed, tmp_path):
    lab, name = deployed, CHANGED_HOST
    deploy("--limit", name)
    uuids, before, envoy = gpu_uuids(lab, name), tritons_on(lab, name), envoy_state(lab, name)
    other_gpu = {n: t["id"] for n, t in before.items() if t["gpu"] != uuids[CHANGED_GPU]}
    # 7 x 1g.5gb -> 3 x 2g.10gb + 1 x 1g.5gb: the 1g.5gb at slice 6 stays where it is, with its Triton
    kept_here = {n: t["id"] for n, t in before.items() if n == f"triton-gpu{CHANGED_GPU}-s6"}
    assert other_gpu and kept_here, sorted(before)
    try:
        client = under_load(lab, name, tmp_path / "stop",
                            lambda: deploy("--limit", name, inventory=changed_inventory(tmp_path)))
        assert_no_failure(client, "the layout change")
        after = tritons_on(lab, name)
        assert {n: after[n]["id"] for n in other_gpu} == other_gpu, "a Triton of the other GPU was replaced"
        assert {n: after[n]["id"] for n in kept_here} == kept_here, "the unchanged instance's Triton was replaced"
        assert sum(1 for t in after.values() if t["gpu"] == uuids[CHANGED_GPU]) == \
            sum(i["count"] for i in CHANGED_INSTANCES)
        assert envoy_state(lab, name) == envoy, "Envoy was restarted"
        check_routes_to_every_triton(lab, name)
    finally:
        back = under_load(lab, name, tmp_path / "stop-back", lambda: deploy("--limit", name))
    assert_no_failure(back, "the change back")
    assert envoy_state(lab, name) == envoy


def test_model_repository_change_under_load_fails_no_request(deployed, tmp_path):
    lab, name = deployed, "lab-h2"
    deploy("--limit", name)
    before, envoy = tritons_on(lab, name), envoy_state(lab, name)
    models = tmp_path / "models"
    shutil.copytree(REPO / "files" / "models", models)
    (models / "README.md").write_text((models / "README.md").read_text() + "\nA new revision of the repository.\n")
    inventory = tmp_path / "lab_models.py"
    inventory.write_text("import runpy\n"
                         f"_hosts, _data = runpy.run_path({str(REPO / 'inventories' / 'lab.py')!r})['lab']\n"
                         f"lab = (_hosts, {{**_data, 'triton_model_repository': {str(models)!r}}})\n")
    try:
        client = under_load(lab, name, tmp_path / "stop", lambda: deploy("--limit", name, inventory=inventory))
        assert_no_failure(client, "the rolling replacement for new models")
        after = tritons_on(lab, name)
        assert set(after) == set(before)
        assert all(after[n]["id"] != before[n]["id"] for n in before), "a Triton kept its old models"
        assert envoy_state(lab, name) == envoy, "Envoy was restarted"
    finally:
        back = under_load(lab, name, tmp_path / "stop-back", lambda: deploy("--limit", name))
    assert_no_failure(back, "the change back")
