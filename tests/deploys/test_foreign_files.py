"""A sync never overwrites a file migfleet did not write: a model repository that would replace one
fails its host at prepare time, naming the files and the setting, and nothing runs there."""
from __future__ import annotations

import logging

from migfleet.facts.trees import TreeNow
from tests.deploys.test_preflight import DATA, H200, U0, U1, errors, prepare, prerequisites  # noqa: F401
from tests.operations.conftest import sim_host_read  # noqa: F401  (the fixture prerequisites uses)
from tests.operations.simulated_gpus import SimulatedGpus, gpu

MODEL_DIR = "/opt/migfleet/models"       # the schema's triton_model_dir


def test_a_foreign_file_in_the_way_fails_the_host_and_nothing_runs(prerequisites, caplog):  # noqa: F811
    # h1: an operator's own config.pbtxt where the repository has one (never read: not in the manifest);
    # h2: a foreign file beside the synced ones, which is only left alone
    prerequisites["h1"] = {"trees": {MODEL_DIR: TreeNow(manifest=True, foreign={"lab_classifier/config.pbtxt": None})}}
    prerequisites["h2"] = {"trees": {MODEL_DIR: TreeNow(manifest=True, foreign={"theirs/config.pbtxt": None})}}
    hosts = {"h1": (SimulatedGpus(gpu(0, H200, U0)), DATA), "h2": (SimulatedGpus(gpu(0, H200, U1)), DATA)}
    with caplog.at_level(logging.INFO):
        fleet = prepare(hosts)
    assert fleet.failed == {"h1"}
    [line] = errors(caplog)
    assert line == ("[@fake/h1] /opt/migfleet/models: 1 file(s) that migfleet did not write would be overwritten by "
                    "model repository: lab_classifier/config.pbtxt. migfleet never overwrites what it did not put "
                    "there: move them away, or set triton_model_dir to a folder of migfleet's own; nothing was "
                    "changed on this host")
    assert "theirs/config.pbtxt" in caplog.text          # h2 says what it leaves alone, and goes on
    fleet.execute()
    # only pyinfra's look for a temporary folder (a read, made when uploads were first queued) reached h1
    assert [c for c in fleet.host("h1").connector.sim.executed if "$TMPDIR" not in c] == []
    assert fleet.host("h2").connector.sim.executed
