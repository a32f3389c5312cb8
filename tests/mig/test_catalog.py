"""The built-in catalog matches the real captures (H100, H200) and is self-consistent (all)."""
import json
import re
from pathlib import Path

import pytest

from migfleet.mig import catalog

FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures"
CAPTURES = {"NVIDIA H100 80GB HBM3": "nvidia-h100-80gb-hbm3", "NVIDIA H200": "nvidia-h200"}

LGIP_ROW = re.compile(r"^\|\s+\d+\s+MIG (\S+)\s+(\d+)\s+(\d+)/(\d+)\s+([\d.]+)\s+(Yes|No)\s+(\d+)\s+(\d+)\s+(\d+)\s+\|$")
LGIP_ROW2 = re.compile(r"^\|\s+(\d+)\s+(\d+)\s+(\d+)\s+\|$")
LGIPP_ROW = re.compile(r"^GPU\s+\d+ Profile ID\s+(\d+) Placements?\s*: \{([\d,]+)\}:(\d+)$")


def parse_lgip(text: str) -> list[dict]:
    rows, lines = [], text.splitlines()
    for i, line in enumerate(lines):
        m = LGIP_ROW.match(line)
        if m:
            m2 = LGIP_ROW2.match(lines[i + 1])
            assert m2, lines[i + 1]
            rows.append({"name": m[1], "id": int(m[2]), "instances": int(m[4]), "gib": m[5],
                         "p2p": m[6] == "Yes", "sm": int(m[7]), "dec": int(m[8]), "enc": int(m[9]),
                         "ce": int(m2[1]), "jpeg": int(m2[2]), "ofa": int(m2[3])})
    return rows


@pytest.mark.parametrize("model", list(CAPTURES))
def test_captured_models_equal_fixtures(model):
    base = FIXTURES / CAPTURES[model]
    geo = catalog.lookup(model)
    rows = parse_lgip((base / "lgip.txt").read_text())
    assert [p.id for p in geo.profiles] == [r["id"] for r in rows]
    for p, r in zip(geo.profiles, rows):
        assert (p.name, p.instances, p.p2p, p.sm, p.dec, p.enc, p.ce, p.jpeg, p.ofa) == (
            r["name"], r["instances"], r["p2p"], r["sm"], r["dec"], r["enc"], r["ce"], r["jpeg"], r["ofa"])
        assert f"{p.memory_mib / 1024:.2f}" == r["gib"]
    placements = {}
    for line in (base / "lgipp.txt").read_text().splitlines():
        m = LGIPP_ROW.match(line)
        assert m, line
        placements[int(m[1])] = tuple((int(s), int(m[3])) for s in m[2].split(","))
    assert {p.id: p.placements for p in geo.profiles} == placements
    nvml = json.loads((base / "nvml_profiles.json").read_text())
    by_id = {e["id"]: e for e in nvml["profiles"] if "id" in e}
    assert set(by_id) == {p.id for p in geo.profiles}
    for p in geo.profiles:
        e = by_id[p.id]
        assert (e["profile_index"], e["memorySizeMB"], e["sliceCount"], e["instanceCount"],
                e["multiprocessorCount"], e["name"]) == (
            p.profile_index, p.memory_mib, p.slices, p.instances, p.sm, p.full_name)
        assert tuple(map(tuple, e["placements"])) == p.placements
    total = (base / "query.csv").read_text().splitlines()[1].split(", ")[6]
    assert total == f"{geo.memory_mib} MiB"
    assert nvml["memory_total"] == geo.memory_mib * 1024 * 1024
    assert geo.architecture == "Hopper"


def test_all_models_and_unknown():
    assert catalog.all_models()[:4] == ["NVIDIA A100-SXM4-40GB", "NVIDIA A100-SXM4-80GB",
                                        "NVIDIA H100 80GB HBM3", "NVIDIA H200"]
    assert {"NVIDIA A30", "NVIDIA H100 NVL", "NVIDIA H100 PCIe", "NVIDIA H800", "NVIDIA GH200 480GB",
            "NVIDIA B200", "NVIDIA GB200"} <= set(catalog.all_models())
    assert all(catalog.model_data(m)["pci_device_id"].startswith("0x") for m in catalog.all_models())
    assert catalog.lookup("NVIDIA T4") is None


@pytest.mark.parametrize("model", catalog.all_models())
def test_geometry_is_consistent(model):
    geo = catalog.lookup(model)
    assert geo.sources
    for p in geo.profiles:
        assert len(p.placements) >= p.instances
        for start, size in p.placements:
            assert 0 <= start and start + size <= geo.memory_slices
        # a profile's memory is at most its share of the memory slices
        assert p.memory_mib * geo.memory_slices <= geo.memory_mib * size + 1
    assert catalog.lookup(model).profile("MIG " + geo.profiles[0].name) is geo.profiles[0]


def test_a100_40gb_documented_profiles():
    geo = catalog.lookup("NVIDIA A100-SXM4-40GB")
    assert [(p.name, p.id, p.instances, p.sm) for p in geo.profiles] == [
        ("1g.5gb", 19, 7, 14), ("1g.5gb+me", 20, 1, 14), ("1g.10gb", 15, 4, 14), ("2g.10gb", 14, 3, 28),
        ("3g.20gb", 9, 2, 42), ("4g.20gb", 5, 1, 56), ("7g.40gb", 0, 1, 98)]
    assert geo.architecture == "Ampere" and geo.keeps_mig_mode_across_reboot


def test_compute_profiles_of_a_3g_instance():
    profiles = catalog.compute_profiles("NVIDIA H100 80GB HBM3", "3g.40gb")
    assert [(p.id, p.name, p.instances, p.is_default) for p in profiles] == [
        (0, "1c.3g.40gb", 3, False), (1, "2c.3g.40gb", 1, False), (2, "3g.40gb", 1, True)]
    assert catalog.compute_profile("NVIDIA H100 80GB HBM3", 9, None).id == 2
    assert [p.id for p in catalog.compute_profiles("NVIDIA A100-SXM4-80GB", 0)] == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("model", catalog.all_models())
def test_every_model_has_a_cited_mig_driver_minimum_or_says_why_not(model):
    entry = catalog.model_data(model)["mig_driver_minimum"]
    assert entry["source"].startswith("https://docs.nvidia.com/datacenter/tesla/mig-user-guide/")
    minimum = catalog.driver_minimum(model)
    if entry["version"] is None:
        assert minimum is None and "no minimum is checked" in entry["source"]
    else:
        assert catalog.version_key(minimum.version) is not None and minimum.version in entry["source"]


def test_mig_driver_minimums_follow_the_guides_table():
    """MIG user guide, Deployment Considerations: A100 R450 (>= 450.80.02), A30 R460 (>= 460.73.01),
    H100 R525 (>= 525.85.12), H200 R550 (>= 550.90.07), B200/GB200 R570 (>= 570.133.20)."""
    def minimum(model):
        return catalog.driver_minimum(model).version
    assert minimum("NVIDIA A100-SXM4-40GB") == minimum("NVIDIA A100-SXM4-80GB") == "450.80.02"
    assert minimum("NVIDIA A30") == "460.73.01"
    assert minimum("NVIDIA H100 80GB HBM3") == minimum("NVIDIA H100 PCIe") == "525.85.12"
    assert minimum("NVIDIA H200") == "550.90.07"
    assert minimum("NVIDIA B200") == minimum("NVIDIA GB200") == "570.133.20"
    assert catalog.driver_minimum("NVIDIA T4") is None


def test_the_captured_drivers_meet_their_minimums():
    for model, folder in CAPTURES.items():
        driver = (FIXTURES / folder / "query.csv").read_text().splitlines()[1].split(", ")[-1]
        assert catalog.version_key(driver) >= catalog.version_key(catalog.driver_minimum(model).version)


def test_driver_versions_compare_as_numbers():
    assert catalog.version_key("550.90.07") == (550, 90, 7)
    assert catalog.version_key("550.100") > catalog.version_key("550.90.07")
    assert catalog.version_key("N/A") is None and catalog.version_key("") is None
