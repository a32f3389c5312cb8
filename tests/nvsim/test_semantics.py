"""MIG semantics of the simulated driver: pending modes, resets, refusals, boot, IDs, placements."""
import json

from conftest import A100, H100
from lab.nvsim import state as st


def load(sim) -> dict:
    return json.loads(st.state_path(sim.root).read_text())


def test_ampere_enable_is_pending_until_reset(sim):
    sim.init(A100)
    out, rc = sim.smi("-i", "0", "-mig", "1")
    assert rc == 0 and out == (
        "Warning: MIG mode is in pending enable state for GPU 00000000:18:00.0:Not Supported\n"
        "Reboot the system or try nvidia-smi --gpu-reset to make MIG mode effective on GPU "
        "00000000:18:00.0\nAll done.\n")
    q, _ = sim.smi("--query-gpu=mig.mode.current,mig.mode.pending", "--format=csv,noheader")
    assert q == "Disabled, Enabled\n"
    assert sim.smi("mig", "-lgi") == ("No MIG-enabled devices found.\n", 0)
    assert sim.smi("--gpu-reset", "-i", "0") == ("GPU 00000000:18:00.0 was successfully reset.\n", 0)
    q, _ = sim.smi("--query-gpu=mig.mode.current,mig.mode.pending", "--format=csv,noheader")
    assert q == "Enabled, Enabled\n"
    assert sim.smi("mig", "-lgi") == ("No GPU instances found: Not Found\n", 6)


def test_enable_while_in_use_warns_and_reset_is_refused(sim, sleeper):
    sim.init(H100)
    proc = sleeper()
    assert sim.ctl("attach", "--pid", str(proc.pid), "--gpu", "0") == 0
    out, rc = sim.smi("-i", "0", "-mig", "1")
    assert rc == 0
    assert out.startswith("Warning: MIG mode is in pending enable state for GPU 00000000:18:00.0:"
                          "In use by another client\n")
    out, rc = sim.smi("-r", "-i", "0")
    assert rc == 255
    assert out.startswith("The following GPUs could not be reset:\n"
                          "  GPU 00000000:18:00.0: In use by another client\n\n1 device is currently")
    assert load(sim)["gpus"][0]["mig_current"] is False
    proc.kill()
    proc.wait()
    assert sim.smi("-r", "-i", "0")[1] == 0          # the dead process no longer counts
    assert load(sim)["gpus"][0]["mig_current"] is True


def test_reset_policies(sim):
    sim.init(H100, H100)
    assert sim.ctl("reset-policy", "unsupported", "--gpu", "1") == 0
    out, rc = sim.smi("-r")
    assert rc == 3
    assert out == ("GPU 00000000:18:00.0 was successfully reset.\n"
                   "The following GPUs could not be reset:\n  GPU 00000000:2A:00.0: Not Supported\n")
    assert sim.ctl("reset-policy", "refuse") == 0
    out, rc = sim.smi("-r", "-i", "0")
    assert rc == 255 and "In use by another client" in out


def test_cgi_9_9_on_h100(sim):
    sim.init(H100)
    sim.enable_mig()
    out, rc = sim.smi("mig", "-cgi", "9,9", "-C")
    assert rc == 0
    assert out.splitlines() == [
        "Successfully created GPU instance ID  1 on GPU  0 using profile MIG 3g.40gb (ID  9)",
        "Successfully created compute instance ID  0 on GPU  0 GPU instance ID  1 using profile MIG 3g.40gb (ID  2)",
        "Successfully created GPU instance ID  2 on GPU  0 using profile MIG 3g.40gb (ID  9)",
        "Successfully created compute instance ID  0 on GPU  0 GPU instance ID  2 using profile MIG 3g.40gb (ID  2)",
    ]
    out, rc = sim.smi("mig", "-lgi")
    rows = [line for line in out.splitlines() if "MIG 3g.40gb" in line]
    assert rc == 0 and len(rows) == 2
    assert {r.split()[-2] for r in rows} == {"0:4", "4:4"}
    listing, _ = sim.smi("-L")
    assert listing.count("  MIG 3g.40gb     Device ") == 2


def test_seven_1g_get_ids_7_to_13_and_eighth_is_refused(sim):
    sim.init(A100)
    sim.enable_mig()
    out, rc = sim.smi("mig", "-cgi", ",".join(["19"] * 7))
    assert rc == 0
    ids = sorted(int(line.split("GPU instance ID")[1].split()[0]) for line in out.splitlines())
    assert ids == list(range(7, 14))
    out, rc = sim.smi("mig", "-cgi", "1g.5gb")
    assert rc == 255
    assert out == ("Unable to create a GPU instance on GPU  0 using profile 1g.5gb: Insufficient Resources\n"
                   "Failed to create GPU instances: Insufficient Resources\n")


def test_explicit_placements_must_not_overlap(sim):
    sim.init(H100)
    sim.enable_mig()
    assert sim.smi("mig", "-cgi", "5:0")[1] == 0
    out, rc = sim.smi("mig", "-cgi", "14:2")
    assert rc == 255 and "Insufficient Resources" in out
    out, rc = sim.smi("mig", "-cgi", "14:1")            # not a placement of 2g.20gb
    assert rc == 2 and "Invalid Argument" in out
    assert sim.smi("mig", "-cgi", "14:4,19:6")[1] == 0


def test_destroy_refusals(sim, sleeper):
    sim.init(H100)
    sim.enable_mig()
    sim.smi("mig", "-cgi", "19:0", "-C")
    out, rc = sim.smi("mig", "-dgi", "-gi", "7")
    assert rc == 255
    assert out == ("Unable to destroy GPU instance ID  7 from GPU  0: In use by another client\n"
                   "Failed to destroy GPU instances: In use by another client\n")
    mig = sim.smi("-L")[0].split("UUID: ")[-1].rstrip(")\n")
    proc = sleeper()
    assert sim.ctl("attach", "--pid", str(proc.pid), "--mig", mig) == 0
    out, rc = sim.smi("mig", "-dci", "-gi", "7", "-ci", "0")
    assert rc == 255 and "In use by another client" in out
    xml, _ = sim.smi("-q", "-x")
    assert f"<pid>{proc.pid}</pid>" in xml and "<gpu_instance_id>7</gpu_instance_id>" in xml
    proc.kill()
    proc.wait()
    assert sim.smi("mig", "-dci", "-gi", "7", "-ci", "0") == (
        "Successfully destroyed compute instance ID  0 from GPU  0 GPU instance ID  7\n", 0)
    assert sim.smi("mig", "-dgi", "-gi", "7") == ("Successfully destroyed GPU instance ID  7 from GPU  0\n", 0)


def test_compute_instances_inside_a_gi(sim):
    sim.init(H100)
    sim.enable_mig()
    sim.smi("mig", "-cgi", "3g.40gb:0")
    out, rc = sim.smi("mig", "-gi", "2", "-cci", "1c.3g.40gb,1")
    assert rc == 0 and "ID  0 on GPU  0 GPU instance ID  2 using profile MIG 1c.3g.40gb (ID  0)" in out
    assert "using profile MIG 2c.3g.40gb (ID  1)" in out
    out, rc = sim.smi("mig", "-gi", "2", "-cci")
    assert rc == 255 and "Insufficient Resources" in out
    assert len(sim.smi("-L")[0].splitlines()) == 3


def test_boot_ampere_applies_pending_hopper_disables(sim):
    sim.init(A100, H100)
    for gpu in ("0", "1"):
        sim.smi("-i", gpu, "-mig", "1")
    assert sim.ctl("boot") == 0
    q, _ = sim.smi("--query-gpu=mig.mode.current,mig.mode.pending", "--format=csv,noheader")
    assert q == "Enabled, Enabled\nDisabled, Disabled\n"
    sim.smi("mig", "-cgi", "0", "-C")
    assert sim.ctl("boot") == 0
    assert sim.smi("mig", "-lgi") == ("No GPU instances found: Not Found\n", 6)


def test_unknown_query_field(sim):
    sim.init(H100)
    assert sim.smi("--query-gpu=index,bogus", "--format=csv") == (
        'Field "bogus" is not a valid field to query.\n\n', 2)
    out, rc = sim.smi("--query-gpu=uuid,memory.total", "--format=csv,noheader,nounits", "-i", "0")
    assert rc == 0 and out.endswith(", 81559\n")


def test_nvml_view_follows_state(sim):
    sim.init(H100)
    sim.enable_mig()
    sim.smi("mig", "-cgi", "9:4", "-C")
    view = st.view_path(sim.root).read_text().splitlines()
    gpu = [line.split("\t") for line in view if line.startswith("gpu\t")]
    assert gpu[0][5:8] == ["1", "1", str(81559 * 1024 * 1024)]
    assert ["gi", "0", "1", "9", "4", "4"] in [line.split("\t") for line in view]
    migdev = [line.split("\t") for line in view if line.startswith("migdev\t")]
    assert migdev[0][1:5] == ["0", "0", "1", "0"] and migdev[0][7] == "MIG 3g.40gb"
    profiles = [line.split("\t") for line in view if line.startswith("profile\t")]
    assert len(profiles) == 7 and all(len(p) == 16 for p in profiles)


def test_ctl_mig_lookup(sim, capsys):
    sim.init(H100)
    sim.enable_mig()
    sim.smi("mig", "-cgi", "19:3", "-C")
    capsys.readouterr()
    assert sim.ctl("mig-uuids") == 0
    uuid = capsys.readouterr().out.strip()
    assert uuid.startswith("MIG-") and len(uuid) == 40
    assert sim.ctl("lookup-mig", uuid) == 0
    assert json.loads(capsys.readouterr().out)["gi_id"] == 10
    assert sim.ctl("lookup-mig", "MIG-00000000-0000-0000-0000-000000000000") == 1
