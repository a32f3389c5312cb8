"""Operations as data: facts (the values of the run's one host read) in, commands out.

Each case in cases/*.json names an operation, its arguments and the commands it must yield, or
the no-op message when the host is already converged (every operation has such a case).
Digests are written "sha256:<content>", the digest of that content. A tree's `now` is
facts.trees.TreeNow as JSON: manifest (bool), written, changed, foreign ({path: digest or null}), gone.
A case with "host" also runs each yielded call (FunctionCommand) as execution would, against a host
answering commands from "host" ({command: [ok, stdout]}; others succeed with no output), and lists
in "ran" the commands those calls ran there.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from pyinfra.api import FileUploadCommand, FunctionCommand, StringCommand
from pyinfra.connectors.util import CommandOutput, OutputLine

from migfleet.facts import trees
from migfleet.facts.trees import TreeNow
from migfleet.mig import catalog
from migfleet.mig.desired import desired_from_rule
from migfleet.mig.geometry import default_ci
from migfleet.mig.plan import Policy, plan_gpu
from migfleet.mig.state import ComputeInstance, GpuInstance, GpuProcess, GpuState
from migfleet.operations import files, mig, serving
from migfleet.serving import settings as serving_settings
from migfleet.serving import triton
from tests.serving.conftest import on_host

CASES = sorted((p, i, c) for p in (Path(__file__).parent / "cases").glob("*.json")
               for i, c in enumerate(json.loads(p.read_text())))
UUID = "GPU-00000000-0000-4000-8000-000000000001"
SETTINGS = serving_settings.defaults()
OPS = {"files.content": files.content, "files.tree": files.tree, "files.unit": files.unit,
       "serving.packages_present": serving.packages_present, "serving.docker_engine": serving.docker_engine,
       "serving.service_running": serving.service_running, "serving.apt_keyring": serving.apt_keyring,
       "serving.nvidia_runtime": serving.nvidia_runtime, "serving.image_present": serving.image_present,
       "serving.tritons": serving.tritons, "serving.envoy_files": serving.envoy_files,
       "serving.services_stopped": serving.services_stopped, "mig.gpu": mig.gpu}
# Operations queued only when they must act (no converged case): host_leaves, host_rejoins,
# services_started, service_restart; envoy_container's converged case needs a real container hash
# (tests/serving/test_envoy_config.py).


def _digest(value):
    if isinstance(value, str) and value.startswith("sha256:"):
        return hashlib.sha256(value[len("sha256:"):].encode()).hexdigest()
    if isinstance(value, dict):
        return {k: _digest(v) for k, v in value.items()}
    return value


def _gpu(model: str, g: dict) -> GpuState:
    geo = catalog.lookup(model)
    gis = tuple(GpuInstance(gi, pid, geo.profile(pid).name, start, dict(geo.profile(pid).placements)[start])
                for gi, pid, start in g.get("gis", ()))
    cis = tuple(ComputeInstance(gi, 0, default_ci(geo.profile(pid)), geo.profile(pid).name, 0, geo.profile(pid).slices)
                for gi, pid, _ in g.get("gis", ()))
    procs = tuple(GpuProcess(pid, name, gi, 0) for pid, name, gi in g.get("procs", ()))
    return GpuState(0, UUID, model, "00000000:18:00.0", *g["mig"], gpu_instances=gis, compute_instances=cis,
                    processes=procs)


def _args(op: str, args: dict) -> dict:
    if op == "mig.gpu":
        gpu, geo = _gpu(args["model"], args["gpu"]), catalog.lookup(args["model"])
        layout = args["layout"]
        want = desired_from_rule({"mig": False} if layout is False else {"instances": layout}, "$.mig_layout[0]")
        policy = Policy(**args.get("policy", {}))
        return {"plan": plan_gpu(gpu, want, geo, policy), "desired": want, "geometry": geo, "policy": policy,
                "leave_first": args.get("leave_first")}
    if op == "serving.tritons":
        spec = lambda n: triton.spec_for(triton.Place(0, int(n.split("-s")[1]), 0, UUID, "1g.10gb"), SETTINGS)  # noqa
        plan = triton.TritonPlan(tuple(args["to_remove"]), tuple(spec(n) for n in args["to_start"]),
                                 tuple(spec(f"triton-gpu0-s{6 - i}") for i in range(args["unchanged"])))
        return {"plan": plan, "rolling": args["rolling"], "lib_dir": "/usr/local/lib/migfleet",
                "sync": args.get("sync", False)}
    if op == "serving.envoy_files":
        return {**args, "digests_now": _digest(args["digests_now"]), "settings": SETTINGS,
                "lib_dir": "/usr/local/lib/migfleet"}
    out = {k: _digest(v) if k.startswith("digest") else v for k, v in args.items()}
    if op == "files.tree":
        out["files"] = {k: v.encode() for k, v in args["files"].items()}
        now = args["now"]
        out["now"] = None if now is None else TreeNow(
            manifest=now.get("manifest", False), written=_digest(now.get("written", {})),
            changed=_digest(now.get("changed", {})), foreign=_digest(now.get("foreign", {})),
            gone=frozenset(now.get("gone", ())))
    return out


def _shown(command, case: dict) -> str:
    if case["op"] == "files.tree":        # the manifest's writer, by name (facts.trees tests run it)
        manifest = trees.manifest_path(case["args"]["remote_dir"])
        if str(command) == trees.write_command(case["args"]["remote_dir"], f"{manifest}.want", manifest):
            return f"write manifest {manifest}"
    if isinstance(command, FileUploadCommand):
        return f"upload {command.dest}"
    if isinstance(command, FunctionCommand):
        return f"call: {getattr(command, 'command', None) or command.function.__name__}"
    return str(command) if isinstance(command, (str, StringCommand)) else repr(command)


class AnsweringHost:
    """The host a call (FunctionCommand) runs against at execute time: answers from the case."""

    print_output = print_input = False

    def __init__(self, answers: dict):
        self.answers, self.ran, self.said = answers, [], []

    def run_shell_command(self, command, **kwargs):
        text = str(command)
        self.ran.append(text)
        ok, out = self.answers.get(text, [True, ""])
        return ok, CommandOutput([OutputLine("stdout", line) for line in out.splitlines()])

    def log(self, message: str) -> None:
        self.said.append(message)

    def log_styled(self, message: str, **kwargs) -> None:
        self.said.append(message)


def _commands(case: dict, answering: AnsweringHost | None) -> list[str]:
    shown = []
    for command in OPS[case["op"]]._inner(**_args(case["op"], case["args"])):
        shown.append(_shown(command, case))
        if answering is not None and isinstance(command, FunctionCommand):
            assert command.function(answering, answering), f"{shown[-1]} failed: {answering.said}"
    return shown


@pytest.mark.parametrize("path, index, case", CASES, ids=[f"{p.stem}: {c['case']}" for p, _, c in CASES])
def test_operation_case(path, index, case):
    answering = AnsweringHost(case["host"]) if "host" in case else None
    with on_host({}) as fake:
        commands = _commands(case, answering)
    assert commands == case["commands"]
    assert fake.noops == ([case["noop"]] if "noop" in case else [])
    if answering is not None:
        assert answering.ran == case["ran"]


def test_every_operation_has_an_already_converged_case():
    converged = {c["op"] for _, _, c in CASES if not c["commands"]}
    assert converged == set(OPS)
