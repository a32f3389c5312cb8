"""The simulator reproduces the real H100/H200 captures byte for byte."""
import re

import pytest

from conftest import FIXTURES, H100, H200

QUERY = ("--query-gpu=index,uuid,name,pci.bus_id,mig.mode.current,mig.mode.pending,memory.total,"
         "driver_version")
CAPTURES = [("nvidia-h100-80gb-hbm3", H100), ("nvidia-h200", H200)]


def fixture_text(capture: str, name: str) -> str:
    return (FIXTURES / capture / name).read_text(encoding="utf-8")


def identity(capture: str) -> dict:
    uuid = re.search(r"UUID: (GPU-[0-9a-f-]+)", fixture_text(capture, "L.txt")).group(1)
    bus = fixture_text(capture, "query.csv").splitlines()[1].split(", ")[3]
    return {"uuid": uuid, "bus_id": bus}


@pytest.fixture(params=CAPTURES, ids=[c for c, _ in CAPTURES])
def captured(request, sim):
    capture, model = request.param
    sim.init(model, **identity(capture))
    return sim, capture


@pytest.mark.parametrize("args,name", [
    (["-L"], "L.txt"),
    ([QUERY, "--format=csv"], "query.csv"),
    (["mig", "-lgip"], "lgip.txt"),
    (["mig", "-lgipp"], "lgipp.txt"),
])
def test_output_equals_capture(captured, args, name):
    sim, capture = captured
    out, rc = sim.smi(*args)
    assert rc == 0
    assert out == fixture_text(capture, name)


@pytest.mark.parametrize("flag,name", [("-lgi", "lgi_migdisabled.txt"), ("-lci", "lci_migdisabled.txt"),
                                       ("-lcip", "lcip_migdisabled.txt")])
def test_mig_lists_with_mig_disabled(captured, flag, name):
    sim, capture = captured
    if not (FIXTURES / capture / name).exists():
        name = "lgi_migdisabled.txt"     # the H100 capture has no -lcip file; same text
    out, rc = sim.smi("mig", flag)
    assert f"{out}rc={rc}\n" == fixture_text(capture, name)


def test_q_and_q_x_equal_capture_but_timestamp(captured):
    sim, capture = captured
    stamp = re.compile(r"(Timestamp\s+: |<timestamp>)[A-Z][a-z]{2} [A-Z][a-z]{2} \d\d \d\d:\d\d:\d\d \d{4}")
    for args, name in ((["-q"], "q.txt"), (["-q", "-x"], "q.xml")):
        out, rc = sim.smi(*args)
        assert rc == 0
        assert stamp.sub(r"\1T", out) == stamp.sub(r"\1T", fixture_text(capture, name))


def test_entry_point_runs_as_module(captured):
    sim, capture = captured
    proc = sim.smi_proc("-L")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == fixture_text(capture, "L.txt")
