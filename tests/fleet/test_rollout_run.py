import json

import pytest

from migfleet.fleet.rollout import Rollout, deploy_errors, judge, load_state, spec_results, state_path
from migfleet.inventory.rollout_settings import RolloutSettings

from .fake_fleet import FakeFleet, junit

HOSTS = [f"lab-h{i}" for i in range(1, 7)]


def make(tmp_path, fleet, settings, lines=None, **kw):
    return Rollout(inventory="inventories/lab.py", hosts=HOSTS, settings=settings,
                   state_file=state_path("inventories/lab.py", tmp_path), runner=fleet,
                   report_dir=tmp_path, out=(lines.append if lines is not None else lambda _: None), **kw)


def deploy_calls(fleet):
    return [[a[i + 1] for i, x in enumerate(a) if x == "--limit"] for a in fleet.calls if "deploy.py" in a]


def test_all_batches_converge(tmp_path):
    fleet, lines = FakeFleet(), []
    assert make(tmp_path, fleet, RolloutSettings(canary=1, batch_size=2), lines).run()
    assert deploy_calls(fleet) == [["lab-h1"], ["lab-h2", "lab-h3"], ["lab-h4", "lab-h5"], ["lab-h6"]]
    state = json.loads((tmp_path / "rollout-lab.json").read_text())
    assert {h: v["status"] for h, v in state["hosts"].items()} == {h: "converged" for h in HOSTS}
    assert any("batch 2/4" in ln and "lab-h2, lab-h3" in ln for ln in lines)
    assert any(ln.startswith("[00:00] done: 6/6") for ln in lines)


def test_deploy_command_line(tmp_path):
    fleet = FakeFleet()
    make(tmp_path, fleet, RolloutSettings(canary=2)).run()
    first = fleet.calls[0]
    assert first[:4] == ["pyinfra", "-y", "inventories/lab.py", "deploy.py"]
    assert first[4:] == ["--limit", "lab-h1", "--limit", "lab-h2"]
    spec = fleet.calls[1]
    at = next(i for i, a in enumerate(spec) if a.endswith("migfleet/spec"))
    assert spec[at + 1:at + 3] == ["--inventory=inventories/lab.py", "--hosts-limit=lab-h1,lab-h2"]


def test_failed_canary_stops_everything(tmp_path):
    fleet, lines = FakeFleet(broken={"lab-h1"}), []
    assert not make(tmp_path, fleet, RolloutSettings(canary=1, batch_size=2, max_failures=3), lines).run()
    assert deploy_calls(fleet) == [["lab-h1"]]
    assert any("STOPPED after batch 1/4: canary failed" in ln for ln in lines)
    assert any("failed: lab-h1: test_mig_layout[lab-h1]: lab-h1 GPU 0" in ln for ln in lines)


def test_threshold_stops_after_the_batch_that_passes_it(tmp_path):
    fleet, lines = FakeFleet(broken={"lab-h2", "lab-h4"}), []
    ok = make(tmp_path, fleet, RolloutSettings(canary=1, batch_size=2, max_failures=1), lines).run()
    assert not ok
    # batch 2 (h2, h3): 1 failure, tolerated; batch 3 (h4, h5): 2 failures > 1: stop before h6
    assert deploy_calls(fleet) == [["lab-h1"], ["lab-h2", "lab-h3"], ["lab-h4", "lab-h5"]]
    assert any("STOPPED after batch 3/4: 2 failure(s), more than 1 tolerated" in ln for ln in lines)
    state = load_state(tmp_path / "rollout-lab.json")
    assert state["hosts"]["lab-h4"]["status"] == "failed"
    assert "lab-h6" not in state["hosts"]


def test_percent_threshold(tmp_path):
    fleet = FakeFleet(broken={"lab-h3"})
    # 20% of 6 hosts -> 1 failure tolerated: the rollout goes on to the end, but is not a success
    assert not make(tmp_path, fleet, RolloutSettings(canary=1, batch_size=1, max_failures="20%")).run()
    assert len(deploy_calls(fleet)) == 6


def test_unreachable_host_named_with_pyinfra_line(tmp_path):
    fleet, lines = FakeFleet(unreachable={"lab-h3"}), []
    assert not make(tmp_path, fleet, RolloutSettings(canary=1, batch_size=5), lines).run()
    state = load_state(tmp_path / "rollout-lab.json")
    assert state["hosts"]["lab-h3"]["reasons"][0] == "[lab-h3] Could not connect (Timeout)"
    assert state["hosts"]["lab-h2"]["status"] == "converged"


def test_resume_skips_converged_hosts_after_checking_them(tmp_path):
    fleet = FakeFleet(broken={"lab-h4"})
    assert not make(tmp_path, fleet, RolloutSettings(canary=1, batch_size=2)).run()
    fleet.broken.clear()                   # the operator fixed lab-h4
    lines = []
    assert make(tmp_path, fleet, RolloutSettings(canary=1, batch_size=2), lines).run()
    # first run: h1 (canary), h2+h3, h4+h5 with h4 failing -> stopped before h6
    assert deploy_calls(fleet)[3:] == [["lab-h4"], ["lab-h6"]]
    spec_runs = [a for a in fleet.calls if any(x.startswith("--hosts-limit=") for x in a)]
    resume_check = spec_runs[3]             # first spec run of the 2nd rollout
    assert "--hosts-limit=lab-h1,lab-h2,lab-h3,lab-h5" in resume_check
    assert any("skipping 4 converged host(s)" in ln for ln in lines)


def test_resume_requeues_hosts_that_drifted(tmp_path):
    fleet = FakeFleet()
    settings = RolloutSettings(canary=1, batch_size=3)
    assert make(tmp_path, fleet, settings).run()
    fleet.converged.discard("lab-h2")      # someone changed lab-h2 by hand
    before = len(deploy_calls(fleet))
    lines = []
    assert make(tmp_path, fleet, settings, lines).run()
    assert deploy_calls(fleet)[before:] == [["lab-h2"]]
    assert any("lab-h2: no longer passes its spec" in ln for ln in lines)


def test_trust_state_skips_the_check(tmp_path):
    fleet = FakeFleet()
    assert make(tmp_path, fleet, RolloutSettings()).run()
    n = len(fleet.calls)
    assert make(tmp_path, fleet, RolloutSettings(), trust_state=True).run()
    assert fleet.calls[n:] == []


def test_deploy_errors_attributed_per_host():
    out = ("--> Starting operation: Apply MIG layout\n"
           "    \x1b[1m[lab-h2]\x1b[0m \x1b[31mError: \x1b[0mnvidia-smi mig -cgi 19:0 failed\n"
           "    [lab-h10] Error: other host\n    [lab-h1] Success\n")
    assert deploy_errors(out, ["lab-h1", "lab-h2"]) == {
        "lab-h2": ["[lab-h2] Error: nvidia-smi mig -cgi 19:0 failed"]}



def test_deploy_errors_put_the_operations_reason_first():
    # pyinfra 3.10 output of a refused reset (mig_reboot_policy "never"); the operation's own
    # message carries no "error" word, pyinfra's closing line does.
    out = ("--> Starting operation: Configure MIG | MIG GPU 0 (NVIDIA H100 80GB HBM3): enable MIG, reset\n"
           "    [lab-h2] Success\n"
           "    [lab-h3] MIG GPU 0 (NVIDIA H100 80GB HBM3): GPU reset was refused and mig_reboot_policy is "
           "'never'; reboot the host [GPU-fb81; nvidia-smi said: The following GPUs could not be reset:\n"
           "  GPU 00000000:18:00.0: In use by another client\n"
           "    [lab-h3] MIG GPU 0 (NVIDIA H100 80GB HBM3, GPU-fb81): stopped after 1 of 3 steps\n"
           "    [lab-h3] Error: executed 1 commands\n"
           "--> Starting operation: Configure MIG | MIG boot unit\n"
           "    [lab-h2] MIG boot unit written\n")
    assert deploy_errors(out, ["lab-h2", "lab-h3"]) == {"lab-h3": [
        "[lab-h3] MIG GPU 0 (NVIDIA H100 80GB HBM3): GPU reset was refused and mig_reboot_policy is 'never'; "
        "reboot the host [GPU-fb81; nvidia-smi said: The following GPUs could not be reset:",
        "[lab-h3] MIG GPU 0 (NVIDIA H100 80GB HBM3, GPU-fb81): stopped after 1 of 3 steps",
        "[lab-h3] Error: executed 1 commands"]}
    results = judge(["lab-h2", "lab-h3"], 1, out, {"lab-h2": (9, []), "lab-h3": (7, [])})
    assert [r.ok for r in results] == [True, False]
    assert "GPU reset was refused" in results[1].reasons[0]

def test_judge_blames_whole_batch_when_pyinfra_fails_without_host_lines():
    spec = {"a": (2, []), "b": (2, [])}
    results = judge(["a", "b"], 2, "--> pyinfra error: No deploy file: deploy.py\n", spec)
    assert [r.ok for r in results] == [False, False]
    assert "pyinfra exited 2: --> pyinfra error: No deploy file" in results[0].reasons[0]


def test_judge_needs_at_least_one_spec_test():
    results = judge(["a"], 0, "", {"a": (0, [])})
    assert results[0].reasons == ["no spec test ran for this host"]


def test_spec_results_from_junit():
    report = junit({"a": {}, "b": {"test_triton_ready": "b GPU 1: container not ready\nmore detail"}})
    res = spec_results(report, ["a", "b"])
    assert res["a"] == (2, [])
    assert res["b"][0] == 1
    assert res["b"][1][0] == "test_triton_ready[b]: b GPU 1: container not ready\n      more detail"
    with pytest.raises(ValueError, match="junit"):
        spec_results("not xml", ["a"])


def test_judge_blames_the_hosts_failed_before_any_operation_with_their_own_lines():
    # pyinfra 3.10 output where two hosts were failed at prepare time (migfleet's own message, no
    # "error" word) and the batch's other host converged: pyinfra exits 1 and names no host.
    out = ("--> Connecting to hosts...\n"
           "    [b]  Connected\n"                 # pyinfra 3.10 puts two spaces after the host here
           "--> Preparing operation files...\n"
           "    [a] Ready: deploy_all\n"
           "    [b] MIG: GPU 0 (NVIDIA H100 80GB HBM3, 00000000:18:00.0) need a GPU reset or MIG mode change, "
           "which is blocked: kernel module nvidia_drm is loaded and holds every GPU\n"
           "    [b] Ready: deploy_all\n"
           "    [c] MIG: GPU 0 blocked: kernel module nvidia_drm is loaded\n"
           "--> Starting operation: Configure MIG | MIG boot record\n"
           "    [a] Success\n"
           "    Grand total   3   3   -   -\n")
    spec = {"a": (5, []), "b": (1, ["test_mig_mode[b]: MIG mode: expected enabled, found disabled"]), "c": (0, [])}
    results = judge(["a", "b", "c"], 1, out, spec)
    assert [r.ok for r in results] == [True, False, False]
    assert results[1].reasons[0].startswith("[b] MIG: GPU 0 (NVIDIA H100 80GB HBM3, 00000000:18:00.0) need a GPU reset")
    assert results[1].reasons[-1].startswith("test_mig_mode[b]")
    assert results[2].reasons[0] == "[c] MIG: GPU 0 blocked: kernel module nvidia_drm is loaded"
