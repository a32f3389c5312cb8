"""What the controller renders for the lab's layouts, byte for byte against golden files: the MIG
plans (operation names and nvidia-smi commands), the Triton run files, the rotation settings and
Envoy documents the real deploy queues over simulated hosts, and the Tritons the live read expects.
A refactor that is to change no behaviour must leave every golden file as it is.

    MIGFLEET_WRITE_GOLDEN=1 .venv/bin/python -m pytest tests/deploys/test_rendered_unchanged.py

writes them again (only for a change of behaviour that is meant, reviewed in the diff).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from pyinfra.api import FileUploadCommand, StringCommand
from pyinfra.api.deploy import add_deploy
from pyinfra.context import ctx_host, ctx_state

from migfleet.deploys.all import deploy_all
from migfleet.fleet import checks
from migfleet.inventory.paths import models_in
from migfleet.serving import settings as serving_settings
from tests.operations.conftest import Fleet, sim_host_read  # noqa: F401  (the fixture, used below)
from tests.operations.simulated_gpus import SimulatedGpus, gpu, with_instances

pytestmark = pytest.mark.usefixtures("sim_host_read")

REPO = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "rendered"
A40, A80, H100, H200 = "NVIDIA A100-SXM4-40GB", "NVIDIA A100-SXM4-80GB", "NVIDIA H100 80GB HBM3", "NVIDIA H200"
MODELS = str(REPO / "files" / "models")
A, B = "lab_adder", "lab_classifier"


def _lab_rules() -> list:
    scope: dict = {}
    exec((REPO / "group_data" / "lab.py").read_text(), scope)       # noqa: S102 (the repository's own file)
    return scope["mig_layout"]


def _uuid(n: int) -> str:
    return f"GPU-00000000-0000-4000-8000-{n:012d}"


# name -> (GPU records (fresh or laid out), host data)
def _cases() -> dict:
    lab = {"mig_layout": _lab_rules()}
    routing = [{"gpus": "all", "instances": [{"profile": "3g.20gb", "count": 1, "models": [A, B]},
                                             {"profile": "1g.5gb", "count": 4, "models": [B]}]}]
    mixed = [{"gpus": {"index": 0}, "models": [A],
              "instances": [{"profile": "1g.10gb", "placements": [6, 4], "models": [B]},
                            {"profile": "2g.20gb", "count": 1},
                            {"profile": "1g.10gb", "count": 2, "models": [A, B]}]},
             {"gpus": {"index": 1}, "mig": False},
             {"gpus": {"model": H100}, "instances": [{"profile": "1g.10gb", "count": 3, "models": [B]},
                                                     {"profile": "3g.40gb", "count": 1,
                                                      "compute": {"profile": "1c.3g.40gb", "count": 3}}]}]
    return {
        "lab-fresh": (lambda: [gpu(0, A40, _uuid(1)), gpu(1, A80, _uuid(2)), gpu(2, H100, _uuid(3)),
                               gpu(3, H200, _uuid(4))], lab),
        "lab-converged": (lambda: [with_instances(gpu(0, A40, _uuid(1)), *[("1g.5gb", s) for s in range(7)]),
                                   with_instances(gpu(1, A80, _uuid(2)), ("3g.40gb", 4), ("2g.20gb", 0),
                                                  ("1g.10gb", 2), ("1g.10gb", 3)),
                                   with_instances(gpu(2, H100, _uuid(3)), ("3g.40gb", 0), ("3g.40gb", 4)),
                                   with_instances(gpu(3, H200, _uuid(4)), ("3g.71gb", 0), ("3g.71gb", 4))], lab),
        "lab-partial": (lambda: [with_instances(gpu(0, A80, _uuid(1)), ("1g.10gb", 6), ("4g.40gb", 0))],
                        lab),
        "routing-fresh": (lambda: [gpu(0, A40, _uuid(1)), gpu(1, A40, _uuid(2))], {"mig_layout": routing}),
        "routing-converged": (lambda: [with_instances(gpu(0, A40, _uuid(1)), ("3g.20gb", 4), ("1g.5gb", 0),
                                                      ("1g.5gb", 1), ("1g.5gb", 2), ("1g.5gb", 3))],
                              {"mig_layout": routing}),
        "mixed-fresh": (lambda: [gpu(0, A80, _uuid(1)), gpu(1, A80, _uuid(2)), gpu(2, H100, _uuid(3)),
                                 gpu(3, A40, _uuid(4))], {"mig_layout": mixed}),
        "mixed-converged": (lambda: [with_instances(gpu(0, A80, _uuid(1)), ("2g.20gb", 0), ("1g.10gb", 2),
                                                    ("1g.10gb", 3), ("1g.10gb", 4), ("1g.10gb", 6))],
                            {"mig_layout": mixed[:1]}),
    }


# Operations whose rendering is this test's: the MIG plan, the Tritons, Envoy (not the host code,
# whose files are migfleet's own source).
GROUPS = ("Configure MIG", "Triton per MIG device", "Envoy in front of the Tritons")


def _command(command) -> str:
    if isinstance(command, StringCommand):
        return f"$ {command.get_raw_value()}"
    if isinstance(command, FileUploadCommand):
        src = command.src
        body = src.getvalue() if hasattr(src, "getvalue") else Path(src).read_bytes()
        return f"put {command.dest}\n{body.decode() if isinstance(body, bytes) else body}"
    return f"call {getattr(command, 'function', command).__name__}"


def render(name: str) -> str:
    make, data = _cases()[name]
    records = make()
    data = {"gpu_models": [r["model"] for r in records], "triton_model_repository": MODELS,
            "metrics_allow_networks": ["10.0.0.0/8"], **data}
    fleet = Fleet({"h1": (SimulatedGpus(*records), data)})
    add_deploy(fleet.state, deploy_all)
    host, out = fleet.host("h1"), []
    for op in fleet.state.get_op_order():
        if op not in fleet.state.ops[host]:
            continue
        title = next(iter(fleet.state.op_meta[op].names))
        if not title.startswith(GROUPS):
            continue
        out.append(f"== {title}")
        with ctx_state.use(fleet.state), ctx_host.use(host):
            out += [_command(c) for c in fleet.state.ops[host][op].command_generator()]
    live = checks.expected_tritons(host.connector.sim.gpus, serving_settings.resolve(data), data["mig_layout"],
                                   models_in(Path(MODELS)))
    out.append("== the live read's Tritons")
    out += [t.to_json() for t in live]
    return "\n".join(out) + "\n"


@pytest.mark.parametrize("name", sorted(_cases()))
def test_rendered_as_before(name):
    got = render(name)
    path = GOLDEN / f"{name}.txt"
    if os.environ.get("MIGFLEET_WRITE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(got)
    assert got == path.read_text(), f"{name}: the rendering changed (diff {path} against render({name!r}))"


def test_the_cases_render_models_of_their_own():
    """The golden files pin per-instance model lists, not only every-model Tritons."""
    text = (GOLDEN / "mixed-converged.txt").read_text()
    runs = [json.loads(chunk) for chunk in text.split("== the live read's Tritons\n", 1)[1].split("\n{")
            if chunk.strip() for chunk in [chunk if chunk.startswith("{") else "{" + chunk]]
    assert {tuple(r["models"]) for r in runs} >= {(B,), (A, B), (A,)}
