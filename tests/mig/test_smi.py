"""Parsers against real captures (../shared/fixtures, MIG disabled) and MIG user guide examples."""
from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import pytest

from migfleet.mig import smi as p

from . import docsamples as doc
from tests.conftest import A100_40GB, FIXTURES, H100_DIR, H200_DIR

REAL = [H100_DIR, H200_DIR]
ids = [d.name for d in REAL]


def _read(d, name):
    return (d / name).read_text()


def _without_rc(text):
    """The *_migdisabled captures end with an `rc=<code>` line added by the capture script."""
    lines = text.splitlines()
    assert lines[-1].startswith("rc=")
    return "\n".join(lines[:-1]), int(lines[-1][3:])


@pytest.mark.parametrize("d", REAL, ids=ids)
def test_query_gpu_with_header_and_units(d):
    (row,) = p.parse_query_gpu(_read(d, "query.csv"))
    assert row.index == 0 and row.uuid.startswith("GPU-") and row.name.startswith("NVIDIA H")
    assert (row.mig_current, row.mig_pending) == (False, False)
    assert row.memory_mib in (81559, 143771) and row.driver_version == "580.159.04"
    assert row.pci_bus_id == "00000000:00:06.0"


def test_query_gpu_noheader_nounits_and_pending():
    rows = p.parse_query_gpu(doc.QUERY_TWO_3G + "1, GPU-11111111-2222-3333-4444-555555555555, "
                             "NVIDIA A100-SXM4-40GB, 00000000:37:00.0, Disabled, Enabled, 40537, 450.80.02\n")
    assert [r.index for r in rows] == [0, 1]
    assert rows[0].mig_current and rows[0].memory_mib == 40537
    assert (rows[1].mig_current, rows[1].mig_pending) == (False, True)


def test_query_gpu_rejects_unknown_mode_and_short_rows():
    with pytest.raises(p.ParseError, match="Unknown Error"):
        p.parse_query_gpu("0, GPU-x, A100, 0:0, Unknown Error, Enabled, 1, 1\n")
    with pytest.raises(p.ParseError, match="NVIDIA-SMI has failed because"):
        p.parse_query_gpu("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\n")


@pytest.mark.parametrize("d", REAL, ids=ids)
def test_list_real(d):
    (gpu,) = p.parse_list(_read(d, "L.txt"))
    assert gpu.index == 0 and gpu.uuid in _read(d, "query.csv") and gpu.mig_devices == ()


def test_list_with_mig_devices():
    (gpu,) = p.parse_list(doc.L_TWO_3G)
    assert gpu.name == "A100-SXM4-40GB"
    assert [(m.name, m.device_index) for m in gpu.mig_devices] == [("3g.20gb", 0), ("3g.20gb", 1)]
    assert gpu.mig_devices[1].uuid == "MIG-a28ad590-3fda-56dd-84fc-0a0b96edc58d"


def test_list_rejects_garbage_quoting_it():
    with pytest.raises(p.ParseError, match="'  MIG 3g.20gb Device zero'"):
        p.parse_list(doc.L_TWO_3G + "  MIG 3g.20gb Device zero\n")


@pytest.mark.parametrize("d", REAL, ids=ids)
def test_lgip_lgipp_real(d):
    rows = p.parse_lgip(_read(d, "lgip.txt"))
    assert [r.id for r in rows] == [19, 20, 15, 14, 9, 5, 0]
    assert all(r.free == r.total for r in rows)
    placements = p.parse_lgipp(_read(d, "lgipp.txt"))
    assert placements[(0, 9)] == ((0, 4), (4, 4))
    assert placements[(0, 5)] == ((0, 4),)           # "Placement :" (singular) form
    assert placements[(0, 0)] == ((0, 8),)


def test_geometry_from_h100_capture_matches_nvml(h100):
    import json
    nvml = json.loads(_read(H100_DIR, "nvml_profiles.json"))
    by_id = {pr["id"]: pr for pr in nvml["profiles"] if "id" in pr}
    for prof in h100.profiles:
        n = by_id[prof.id]
        assert prof.full_name == n["name"]
        assert prof.slices == n["sliceCount"] and prof.instances == n["instanceCount"]
        assert prof.sm == n["multiprocessorCount"]
        assert [list(x) for x in prof.placements] == n["placements"]
        assert abs(prof.memory_mib - n["memorySizeMB"]) < 0.01 * n["memorySizeMB"]
    assert h100.architecture == "Hopper" and h100.memory_slices == 8 and h100.compute_slices == 7


def test_geometry_from_guide_listing_equals_hand_written_a100():
    g = p.geometry_from_lgip(doc.LGIP_A100, doc.LGIPP_A100, "NVIDIA A100-SXM4-40GB", 40537)
    assert g.architecture == "Ampere"
    assert [(x.id, x.name, x.slices, x.instances, x.placements) for x in g.profiles] == \
        [(x.id, x.name, x.slices, x.instances, x.placements) for x in A100_40GB.profiles]


def test_lgip_rejects_truncated_table():
    broken = doc.LGIP_A100.replace("|   0  MIG 1g.5gb        19     7/7", "|   0  MIG 1g.5gb        19     7-7")
    with pytest.raises(p.ParseError, match="7-7"):
        p.parse_lgip(broken)


@pytest.mark.parametrize("name", ["lgi_migdisabled.txt", "lci_migdisabled.txt"])
@pytest.mark.parametrize("d", REAL, ids=ids)
def test_mig_disabled_listings_are_empty(d, name):
    text, rc = _without_rc(_read(d, name))
    assert rc == 0
    assert (p.parse_lgi if "lgi" in name else p.parse_lci)(text) == []


def test_lgi_guide_example():
    gis = p.parse_lgi(doc.LGI_TWO_3G)
    assert [(i, g.gi_id, g.profile_id, g.name, g.start, g.size) for i, g in gis] == \
        [(0, 1, 9, "3g.20gb", 4, 4), (0, 2, 9, "3g.20gb", 0, 4)]


def test_lgi_no_instances():
    assert p.parse_lgi("No GPU instances found: Not Found\n") == []


def test_lci_both_forms():
    cis = p.parse_lci(doc.LCI_TWO_3G)
    assert [(c.gi_id, c.ci_id, c.profile_id, c.name, c.size) for _, c in cis] == \
        [(1, 0, 2, "3g.20gb", 4), (2, 0, 2, "3g.20gb", 4)]
    old = p.parse_lci(doc.LCI_THREE_1C_NO_PLACEMENT)
    assert [(c.gi_id, c.ci_id, c.name) for _, c in old] == [(1, 0, "1c.3g.20gb"), (1, 1, "1c.3g.20gb"),
                                                            (1, 2, "1c.3g.20gb")]


def test_lci_rejects_unknown_row():
    with pytest.raises(p.ParseError, match="MIG 3g.20gb          x"):
        p.parse_lci(doc.LCI_TWO_3G.replace("MIG 3g.20gb          2 ", "MIG 3g.20gb          x ", 1))


@pytest.mark.parametrize("d", REAL, ids=ids)
def test_query_xml_real(d):
    (gpu,) = p.parse_query_xml(_read(d, "q.xml")).values()
    assert gpu.uuid in _read(d, "L.txt") and gpu.pci_bus_id == "00000000:00:06.0"
    assert (gpu.mig_current, gpu.mig_pending) == (False, False)
    assert gpu.mig_devices == () and gpu.processes == ()


def test_query_xml_mig_devices_and_processes():
    (gpu,) = p.parse_query_xml(doc.XML_TWO_3G).values()
    assert gpu.mig_current and gpu.mig_devices == ((0, 1, 0), (1, 2, 0))
    (proc,) = gpu.processes
    assert (proc.pid, proc.name, proc.gi_id, proc.ci_id, proc.used_memory_mib) == (58866, "./BlackScholes", 1, 0, 253)


def test_query_xml_process_without_mig():
    xml = doc.XML_TWO_3G.replace("<gpu_instance_id>1</gpu_instance_id>\n\t\t\t\t<compute_instance_id>0</compute_instance_id>\n\t\t\t\t<pid>",
                                 "<gpu_instance_id>N/A</gpu_instance_id>\n\t\t\t\t<compute_instance_id>N/A</compute_instance_id>\n\t\t\t\t<pid>")
    (gpu,) = p.parse_query_xml(xml).values()
    assert (gpu.processes[0].gi_id, gpu.processes[0].ci_id) == (None, None)


def test_query_xml_broken_quotes_line():
    with pytest.raises(p.ParseError, match="'</nvidia_smi_log>' .mismatched tag"):
        p.parse_query_xml(doc.XML_TWO_3G.replace("</gpu>", ""))


# ------------------------------------------------------------ snapshot

@pytest.mark.parametrize("d", REAL, ids=ids)
def test_snapshot_of_real_captures(d):
    lgi, lgi_rc = _without_rc(_read(d, "lgi_migdisabled.txt"))
    lci, lci_rc = _without_rc(_read(d, "lci_migdisabled.txt"))
    text = doc.snapshot({"query": (0, _read(d, "query.csv")), "list": (0, _read(d, "L.txt")),
                         "lgi": (lgi_rc, lgi), "lci": (lci_rc, lci), "xml": (0, _read(d, "q.xml"))})
    (state,) = p.parse_snapshot(text).values()
    assert state.uuid in _read(d, "L.txt") and not state.mig_current and not state.mode_pending_change
    assert state.gpu_instances == () and state.mig_devices == () and state.driver_version == "580.159.04"


def test_snapshot_mig_enabled_matches_uuids_to_gi_ci():
    (state,) = p.parse_snapshot(doc.snapshot(doc.TWO_3G_SECTIONS)).values()
    assert state.uuid == doc.A100_UUID and state.mig_current
    assert [g.gi_id for g in state.gpu_instances] == [1, 2]
    assert [(m.uuid[:12], m.gi_id, m.ci_id) for m in state.mig_devices] == \
        [("MIG-c7384736", 1, 0), ("MIG-a28ad590", 2, 0)]
    assert state.processes[0].gi_id == 1


def test_query_row_is_the_snapshots_gpu_state_before_its_instances():
    """One type: the snapshot's GpuState is the --query-gpu row's, with instances, devices and processes."""
    (row,) = p.parse_query_gpu(doc.QUERY_TWO_3G)
    (state,) = p.parse_snapshot(doc.snapshot(doc.TWO_3G_SECTIONS)).values()
    assert type(row) is type(state) and state.gpu_instances and state.mig_devices
    assert dataclasses.replace(state, gpu_instances=(), compute_instances=(), mig_devices=(), processes=()) == row


def test_snapshot_device_mismatch_is_an_error():
    sections = dict(doc.TWO_3G_SECTIONS)
    sections["list"] = (0, "\n".join(doc.L_TWO_3G.splitlines()[:2]))
    with pytest.raises(p.ParseError, match=r"-L lists 1 MIG device\(s\) on GPU 0, but -q -x lists 2 "
                                           r"\(output cut short\?\)"):
        p.parse_snapshot(doc.snapshot(sections))


def test_snapshot_missing_nvidia_smi_is_not_empty():
    # every section exits 127 when the host has no nvidia-smi: no driver, not "no GPU"
    missing = {name: (127, "sh: 1: nvidia-smi: not found") for name in p.NAMES}
    with pytest.raises(p.DriverUnavailable, match="nvidia-smi not found"):
        p.parse_snapshot(doc.snapshot(missing))


def test_snapshot_driver_failure():
    sections = dict(doc.TWO_3G_SECTIONS)
    sections["query"] = (9, "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.")
    with pytest.raises(p.DriverUnavailable, match="couldn't communicate"):
        p.parse_snapshot(doc.snapshot(sections))


def test_snapshot_incomplete():
    text = doc.snapshot(doc.TWO_3G_SECTIONS)
    with pytest.raises(p.ParseError, match="output cut short: section.s. xml incomplete"):
        p.parse_snapshot(text[: text.index("@@migfleet xml")])


def test_snapshot_command_runs_in_sh_with_a_fake_nvidia_smi(tmp_path):
    """The command is one POSIX sh line; a fake nvidia-smi replays the guide's output per argument."""
    fake = tmp_path / "nvidia-smi"
    cases = {"--query-gpu": doc.QUERY_TWO_3G, "-L": doc.L_TWO_3G, "mig -lgi": doc.LGI_TWO_3G,
             "mig -lci": doc.LCI_TWO_3G, "-q -x": doc.XML_TWO_3G}
    for key, text in cases.items():
        (tmp_path / key.replace(" ", "_")).write_text(text)
    fake.write_text('#!/bin/sh\nd=$(dirname "$0")\ncase "$*" in\n'
                    '  --query-gpu*) cat "$d/--query-gpu";;\n  -L) cat "$d/-L";;\n'
                    '  "mig -lgi") cat "$d/mig_-lgi";;\n  "mig -lci") cat "$d/mig_-lci";;\n'
                    '  "-q -x") cat "$d/-q_-x";;\n  *) echo "bad args: $*"; exit 2;;\nesac\n')
    fake.chmod(0o755)
    out = subprocess.run(["/bin/sh", "-c", p.SNAPSHOT_COMMAND], capture_output=True, text=True, timeout=10,
                         env={"PATH": f"{tmp_path}:/usr/bin:/bin"}, check=True).stdout
    (state,) = p.parse_snapshot(out).values()
    assert len(state.mig_devices) == 2
    missing = subprocess.run(["/bin/sh", "-c", p.SNAPSHOT_COMMAND], capture_output=True, text=True,
                             timeout=10, env={"PATH": str(tmp_path / "empty")}, check=True).stdout
    with pytest.raises(p.DriverUnavailable):
        p.parse_snapshot(missing)


def test_fixture_dir_exists():
    assert (FIXTURES / "nvidia-h100-80gb-hbm3" / "lgip.txt").is_file()


# ------------------------------------------------------------ issue 12: MIG UUID forms, cut listings, cross-checks

from . import smigen  # noqa: E402


def test_list_accepts_the_early_a100_mig_uuid_form():
    text = smigen.listing([smigen.seven_1g(gis=2)], old_form=True)
    (gpu,) = p.parse_list(text)
    assert [d.uuid for d in gpu.mig_devices] == ["MIG-GPU-11111111-2222-3333-4444-555555555555/7/0",
                                                 "MIG-GPU-11111111-2222-3333-4444-555555555555/8/0"]


def test_snapshot_with_the_early_mig_uuid_form_plans_on_it():
    gpus = [smigen.seven_1g(gis=3)]
    (state,) = p.parse_snapshot(doc.snapshot(smigen.sections(gpus, old_form=True))).values()
    assert [(m.gi_id, m.ci_id, m.uuid.endswith(f"/{m.gi_id}/0")) for m in state.mig_devices] == \
        [(7, 0, True), (8, 0, True), (9, 0, True)]


@pytest.mark.parametrize("name,text,parse", [
    ("lgi", doc.LGI_TWO_3G, p.parse_lgi), ("lci", doc.LCI_TWO_3G, p.parse_lci),
    ("lgip", doc.LGIP_A100, p.parse_lgip)])
def test_box_table_cut_after_a_row_is_an_error_not_a_shorter_table(name, text, parse):
    lines = text.splitlines()
    cut = "\n".join(lines[:-1]) + "\n"        # the last row without its closing border
    with pytest.raises(p.ParseError, match="table cut short: no closing border"):
        parse(cut)
    assert parse(text)


def test_issue_case_three_gis_beside_seven_cis_and_devices_is_refused():
    full = smigen.sections([smigen.seven_1g(gis=7)])
    sections = dict(full, lgi=(0, smigen.lgi([smigen.seven_1g(gis=3)])))
    with pytest.raises(p.ParseError, match=r"mig -lgi lists 3 GPU instance\(s\) on GPU 0, but mig -lci has compute "
                                           r"instances in 7 and -q -x has MIG devices in 7: GPU instance 10, 11, 12 "
                                           r"and 1 more missing from -lgi \(output cut short\?\)"):
        p.parse_snapshot(doc.snapshot(sections))


def test_devices_without_compute_instances_are_refused():
    sections = dict(smigen.sections([smigen.seven_1g(gis=7)]))
    sections["lci"] = (0, "No compute instances found: Not Found")
    with pytest.raises(p.ParseError, match=r"mig -lci lists 0 compute instance\(s\) on GPU 0, but -q -x lists 7 "
                                           r"MIG device\(s\): compute instance 0 of GPU instance 7, 0 of GPU "
                                           r"instance 8, 0 of GPU instance 9 and 4 more missing from -lci"):
        p.parse_snapshot(doc.snapshot(sections))


def test_compute_instance_without_device_is_refused():
    gpu = smigen.seven_1g(gis=2)
    sections = dict(smigen.sections([gpu]))
    fewer = (gpu[0], gpu[1], gpu[2], gpu[3][:1])
    sections["list"], sections["xml"] = (0, smigen.listing([fewer])), (0, smigen.xml([fewer]))
    with pytest.raises(p.ParseError, match=r"-q -x lists 1 MIG device\(s\) on GPU 0, but mig -lci lists 2 "
                                           r"compute instance\(s\): compute instance 0 of GPU instance 8 without a "
                                           r"MIG device in -q -x"):
        p.parse_snapshot(doc.snapshot(sections))


def test_gpu_instance_without_compute_instance_is_a_legal_state():
    uuid, name, mig, gis = smigen.seven_1g(gis=2)
    gpu = (uuid, name, mig, [gis[0], gis[1][:5] + ([],)])
    (state,) = p.parse_snapshot(doc.snapshot(smigen.sections([gpu]))).values()
    assert [g.gi_id for g in state.gpu_instances] == [7, 8] and [d.gi_id for d in state.mig_devices] == [7]


@pytest.mark.parametrize("drop,message", [
    ("query", r"GPU listed by nvidia-smi -L but not by --query-gpu"),
    ("xml", r"GPU listed by nvidia-smi --query-gpu but not by -q -x"),
])
def test_gpus_are_cross_checked_both_ways(drop, message):
    a, b = smigen.seven_1g(gis=1), smigen.seven_1g("GPU-aaaaaaaa-2222-3333-4444-555555555555", gis=1)
    sections = dict(smigen.sections([a, b]))
    render = {"query": smigen.query, "xml": smigen.xml}[drop]
    sections[drop] = (0, render([a]))
    with pytest.raises(p.ParseError, match=message):
        p.parse_snapshot(doc.snapshot(sections))


def test_gpu_cut_from_the_listing_between_two_rows_is_refused():
    a, b = smigen.seven_1g(gis=1), smigen.seven_1g("GPU-aaaaaaaa-2222-3333-4444-555555555555", gis=1)
    sections = dict(smigen.sections([a, b]))
    sections["list"] = (0, smigen.listing([a]))
    with pytest.raises(p.ParseError, match="GPU missing from nvidia-smi -L or -q -x|not by -L"):
        p.parse_snapshot(doc.snapshot(sections))


def test_instances_on_a_gpu_whose_mig_mode_is_disabled_are_refused():
    uuid, name, _, gis = smigen.seven_1g(gis=1)
    sections = dict(smigen.sections([(uuid, name, True, gis)]))
    sections["query"] = (0, smigen.query([(uuid, name, False, gis)]))
    with pytest.raises(p.ParseError, match="whose MIG mode --query-gpu reports disabled"):
        p.parse_snapshot(doc.snapshot(sections))


def test_mig_mode_query_reads_current_and_pending():
    assert p.mig_mode(0) == "nvidia-smi -i 0 --query-gpu=mig.mode.current,mig.mode.pending --format=csv,noheader"
    (row,) = p.parse_query_gpu(_read(H200_DIR, "query.csv"))       # the real H200: Disabled, Disabled
    assert p.parse_mig_mode("Disabled, Disabled\n") == (row.mig_current, row.mig_pending) == (False, False)
    assert p.parse_mig_mode("Disabled, Enabled\n") == (False, True)      # pending enable
    assert p.parse_mig_mode("Enabled, Enabled") == (True, True)


@pytest.mark.parametrize("text, quoted", [
    ("No devices were found\n", "No devices were found"),
    ("[N/A], [N/A]\n", "[N/A], [N/A]"),
    ("Enabled, Enabled\nEnabled, Enabled\n", "Enabled, Enabled"),
    ("", ""),
])
def test_mig_mode_query_rejects_other_output_quoting_it(text, quoted):
    with pytest.raises(p.ParseError) as e:
        p.parse_mig_mode(text)
    assert repr(quoted) in str(e.value)



def test_the_read_only_guard_passes_the_mode_query_and_refuses_every_change(tmp_path):
    """The device's read-only runs put bench/h100/nvidia-smi-guard in front of nvidia-smi: the mode
    query read after a Hopper mode change is a query it passes; changes stay refused (exit 97)."""
    guard = Path(__file__).resolve().parents[2] / "bench" / "h100" / "nvidia-smi-guard"
    env = {"PATH": "/usr/bin:/bin", "REAL_NVIDIA_SMI": "/bin/true", "GUARD_LOG": str(tmp_path / "calls.log")}

    def rc(command: str) -> int:
        return subprocess.run(["sh", str(guard), *command.split()[1:]], env=env, capture_output=True).returncode

    assert rc(p.mig_mode(0)) == 0
    for change in (p.enable_mig(0), p.disable_mig(0), p.reset_gpu(0), p.create_gis(0, [(9, 0)], True),
                   p.destroy_gi(0, 1), p.destroy_ci(0, 1, 0), p.create_cis(0, 1, [0])):
        assert rc(change) == 97, change
