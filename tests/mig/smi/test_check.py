"""Driver output cut short at a line border is never taken as complete: over every line border of
every section of real captures, generated listings and the lab's simulated driver, a cut is either
refused naming the section, or parses to exactly the original state.

nvidia-smi closes every table row with a border, so a box table cut after a row's border parses on
its own as a shorter table; only the other sections (and, for `-lgip`, the catalog) show the cut.
"""
from __future__ import annotations

import os
import re
import subprocess
from itertools import combinations
from pathlib import Path

import pytest

from migfleet import sections
from migfleet.mig import catalog
from migfleet.mig import smi as p
from tests.conftest import H100_DIR, H200_DIR
from tests.fleet.captures import snapshot_text
from tests.mig import docsamples as doc
from tests.mig import smigen

# How each section is named in the messages (the name nvidia-smi's users know it by).
NAMED = {"query": r"--query-gpu", "list": r"(?<![\w-])-L\b", "lgi": r"-lgi\b", "lci": r"-lci\b", "xml": r"-q -x",
         "lgip": r"-lgip\b", "lgipp": r"-lgipp\b"}


def cuts(text: str):
    """The text cut at each line border, shorter than the whole: (lines kept, text)."""
    lines = text.splitlines(keepends=True)
    return [(n, "".join(lines[:n])) for n in range(len(lines))]


def _real_disabled(d: Path) -> dict[str, tuple[int, str]]:
    def without_rc(name):
        *lines, rc = (d / name).read_text().splitlines()
        return int(rc.removeprefix("rc=")), "\n".join(lines) + "\n"
    return {"query": (0, (d / "query.csv").read_text()), "list": (0, (d / "L.txt").read_text()),
            "lgi": without_rc("lgi_migdisabled.txt"), "lci": without_rc("lci_migdisabled.txt"),
            "xml": (0, (d / "q.xml").read_text())}


def _generated() -> dict[str, tuple[int, str]]:
    return smigen.sections([smigen.seven_1g(gis=7),
                            smigen.seven_1g("GPU-aaaaaaaa-2222-3333-4444-555555555555", gis=3)])


def _nvsim(root: Path) -> tuple[dict[str, tuple[int, str]], dict[int, str]]:
    """A partitioned host of the lab's simulated driver: its snapshot sections, and each GPU's
    geometry listing."""
    from tests.fleet.fake_smi import A100, H100, install_smi
    env = install_smi(root, [A100, H100, "NVIDIA H200"])
    env = {**os.environ, "PATH": f"{env['PATH']}:{os.environ['PATH']}", "NVSIM_ROOT": env["NVSIM_ROOT"]}

    def sh(command: str) -> str:
        done = subprocess.run(["sh", "-c", command], env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done
        return done.stdout
    sh("nvidia-smi -i 0 -mig 1 && nvidia-smi --gpu-reset -i 0 && nvidia-smi -i 1 -mig 1 && nvidia-smi --gpu-reset -i 1")
    sh("nvidia-smi mig -i 0 -cgi 19,19,19,19,19,19,19 -C")
    sh("nvidia-smi mig -i 1 -cgi 9:4 && nvidia-smi mig -i 1 -gi 1 -cci 0,0,0 && nvidia-smi mig -i 1 -cgi 19:0,14:2 -C")
    return (sections.split(sh(p.SNAPSHOT_COMMAND), p.NAMES),
            {i: sh(p.geometry_command(i)) for i in range(3)})


@pytest.fixture(scope="module")
def nvsim(tmp_path_factory):
    return _nvsim(tmp_path_factory.mktemp("nvsim"))


SNAPSHOTS = {
    "h100-mixed": lambda: sections.split(snapshot_text("h100-mixed"), p.NAMES),
    "h100-disabled": lambda: _real_disabled(H100_DIR),
    "h200-disabled": lambda: _real_disabled(H200_DIR),
    "generated": _generated,
}


def _violations(base: dict, name: str, parse, whole) -> list[str]:
    """Every cut of one section that is neither refused naming the section nor the whole state."""
    out = []
    rc, text = base[name]
    for n, cut in cuts(text):
        try:
            got = parse(dict(base, **{name: (rc, cut)}))
        except p.ParseError as e:
            if not re.search(NAMED[name], str(e)):
                out.append(f"{name} cut after {n} line(s): the message names another section: {e}")
            continue
        if got != whole:
            out.append(f"{name} cut after {n} line(s) parses to a different state")
    return out


def _snapshot_violations(base: dict, names=p.NAMES) -> list[str]:
    whole = p.parse_sections(base)
    assert whole            # the whole capture parses
    return [v for name in names for v in _violations(base, name, p.parse_sections, whole)]


@pytest.mark.parametrize("capture", list(SNAPSHOTS))
def test_every_cut_of_a_snapshot_section_is_refused_naming_it(capture):
    assert _snapshot_violations(SNAPSHOTS[capture]()) == []


@pytest.mark.slow     # the simulated driver: a Python process per nvidia-smi call
def test_every_cut_of_the_simulated_drivers_snapshot_is_refused_naming_it(nvsim):
    base, _ = nvsim
    whole = p.parse_sections(base)
    assert [len(g.gpu_instances) for g in whole.values()] == [7, 3, 0]
    # Not its -q -x: 1,300 lines, each cut an XML document without its end, as for the real captures'.
    assert _snapshot_violations(base, [name for name in p.NAMES if name != "xml"]) == []


@pytest.mark.parametrize("capture", ["h100-mixed", "generated"])
def test_two_sections_cut_at_once_are_refused(capture):
    """-lgi and -lci cut at the same GPU instance (and every other pair): -L and -q -x still show
    every MIG device."""
    base = SNAPSHOTS[capture]()
    whole = p.parse_sections(base)
    bad = []
    for a, b in combinations(("query", "list", "lgi", "lci"), 2):
        for (n, cut_a), (m, cut_b) in ((x, y) for x in cuts(base[a][1]) for y in cuts(base[b][1])):
            try:
                got = p.parse_sections(dict(base, **{a: (base[a][0], cut_a), b: (base[b][0], cut_b)}))
            except p.ParseError as e:
                if not (re.search(NAMED[a], str(e)) or re.search(NAMED[b], str(e))):
                    bad.append(f"{a}@{n} {b}@{m}: {e}")
                continue
            if got != whole:
                bad.append(f"{a}@{n} {b}@{m} parses to a different state")
    assert bad == []


def test_three_of_seven_gpu_instances_beside_seven_devices_names_the_counts():
    full = smigen.sections([smigen.seven_1g(gis=7)])
    rows = full["lgi"][1].splitlines(keepends=True)
    three = "".join(rows[:5 + 2 * 3])           # heading, then three rows each with its closing border
    with pytest.raises(p.ParseError) as refused:
        p.parse_sections(dict(full, lgi=(0, three)))
    assert str(refused.value) == (
        "cannot parse migfleet snapshot: unexpected line 'GPU 0: GPU-11111111-2222-3333-4444-555555555555' "
        "(mig -lgi lists 3 GPU instance(s) on GPU 0, but mig -lci has compute instances in 7 and -q -x has MIG "
        "devices in 7: GPU instance 10, 11, 12 and 1 more missing from -lgi (output cut short?))")


def test_a_gpu_cut_from_the_listing_names_both_counts():
    base = _generated()
    first_gpu = "".join(base["list"][1].splitlines(keepends=True)[:8])
    with pytest.raises(p.ParseError, match=r"GPU listed by nvidia-smi --query-gpu but not by -L "
                                           r"\(--query-gpu lists 2 GPU\(s\), -L 1\)"):
        p.parse_sections(dict(base, list=(0, first_gpu)))


# ------------------------------------------------------------ mig -lgip / -lgipp

def _geometry_sections(d: Path, name: str | None = None) -> dict[str, tuple[int, str]]:
    query = (d / "query.csv").read_text()
    if name is not None:
        query = query.replace("NVIDIA H100 80GB HBM3", name)
    return {"query": (0, query), "lgip": (0, (d / "lgip.txt").read_text()),
            "lgipp": (0, (d / "lgipp.txt").read_text())}


def _a100_sections() -> dict[str, tuple[int, str]]:
    return {"query": (0, smigen.query([smigen.seven_1g(gis=0)])), "lgip": (0, doc.LGIP_A100),
            "lgipp": (0, doc.LGIPP_A100)}


def parse_geometry(sec: dict[str, tuple[int, str]]):
    return p.parse_geometry(doc.snapshot(sec))


GEOMETRIES = {
    "h100": lambda: _geometry_sections(H100_DIR),
    "h200": lambda: _geometry_sections(H200_DIR),
    "a100-guide": _a100_sections,
    "model-not-in-catalog": lambda: _geometry_sections(H100_DIR, "NVIDIA H100 Engineering Sample"),
}


@pytest.mark.parametrize("listing", list(GEOMETRIES))
def test_every_cut_of_a_geometry_listing_is_refused_naming_it(listing):
    base = GEOMETRIES[listing]()
    whole = parse_geometry(base)
    assert len(whole.profiles) == 7
    assert [v for name in ("query", "lgip", "lgipp") for v in _violations(base, name, parse_geometry, whole)] == []


@pytest.mark.slow     # the simulated driver: a Python process per nvidia-smi call
def test_every_cut_of_the_simulated_drivers_geometry_is_refused_naming_it(nvsim):
    _, geometries = nvsim
    for text in geometries.values():
        base = sections.split(text, ("query", "lgip", "lgipp"))
        whole = parse_geometry(base)
        assert [q.id for q in whole.profiles] == [q.id for q in catalog.lookup(whole.model).profiles]
        assert [v for name in ("lgip", "lgipp") for v in _violations(base, name, parse_geometry, whole)] == []


def _first_profiles(base, n: int) -> dict[str, tuple[int, str]]:
    """-lgip with its first n profiles (heading, then 3 lines each), -lgipp with the same n."""
    lgip = "".join(base["lgip"][1].splitlines(keepends=True)[:5 + 3 * n])
    lgipp = "".join(base["lgipp"][1].splitlines(keepends=True)[:n])
    return dict(base, lgip=(0, lgip), lgipp=(0, lgipp))


def test_lgip_listing_three_of_seven_profiles_beside_a_whole_lgipp_is_refused():
    base = _geometry_sections(H100_DIR)
    cut = dict(base, lgip=_first_profiles(base, 3)["lgip"])
    with pytest.raises(p.ParseError, match=r"mig -lgip lists 3 GPU instance profile\(s\) on GPU 0, but mig -lgipp "
                                           r"places 7: profile ID 14, 9, 5 and 1 more missing from -lgip"):
        parse_geometry(cut)


def test_lgip_and_lgipp_both_listing_three_of_a_catalogued_models_profiles_are_refused():
    with pytest.raises(p.ParseError) as refused:
        parse_geometry(_first_profiles(_geometry_sections(H200_DIR), 3))
    assert str(refused.value) == (
        "cannot parse mig -lgip output: unexpected line '+" + "-" * 79 + "+' (mig -lgip lists 3 of the 7 GPU "
        "instance profiles the catalog has for NVIDIA H200 on GPU 0: 2g.35gb (ID 14), 3g.71gb (ID 9), "
        "4g.71gb (ID 5) and 1 more missing (output cut short?))")


def test_a_model_not_in_the_catalog_has_only_lgipp_to_check_lgip_against():
    geometry = parse_geometry(_first_profiles(_geometry_sections(H100_DIR, "NVIDIA H100 Engineering Sample"), 3))
    assert [q.name for q in geometry.profiles] == ["1g.10gb", "1g.10gb+me", "1g.20gb"]


def test_lgip_contradicting_the_catalog_is_refused():
    base = _geometry_sections(H100_DIR)
    lgip = base["lgip"][1].replace("MIG 3g.40gb          9     2/2", "MIG 3g.40gb          9     3/3")
    assert lgip != base["lgip"][1]
    with pytest.raises(p.ParseError, match=r"mig -lgip lists profile ID 9 on GPU 0 as 3g.40gb with 3 instance\(s\); "
                                           r"the catalog's NVIDIA H100 80GB HBM3 has 3g.40gb with 2"):
        parse_geometry(dict(base, lgip=(0, lgip)))


def test_a_profile_the_catalog_lacks_is_accepted_from_a_newer_driver():
    base = _geometry_sections(H100_DIR)
    border = base["lgip"][1].splitlines()[-1]
    extra = (f"|   0  MIG 1g.20gb+gfx     99     4/4        19.62      No     26     1     0   |\n"
             f"|                                                               1     1     0   |\n{border}\n")
    sec = dict(base, lgip=(0, base["lgip"][1] + extra),
               lgipp=(0, base["lgipp"][1] + "GPU  0 Profile ID 99 Placements: {0,2,4,6}:2\n"))
    assert [q.id for q in parse_geometry(sec).profiles][-1] == 99
