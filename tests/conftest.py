"""Shared geometries (from the real captures in ../shared/fixtures) for every test folder."""
from __future__ import annotations

from pathlib import Path

import pytest

from migfleet.mig.geometry import Geometry, Profile
from migfleet.mig.smi import geometry_from_lgip, parse_query_gpu

FIXTURES = Path(__file__).resolve().parents[1] / ".." / "shared" / "fixtures"
H100_DIR = FIXTURES / "nvidia-h100-80gb-hbm3"
H200_DIR = FIXTURES / "nvidia-h200"


def _p(id_, name, slices, instances, mem, sm, placements):
    return Profile(id=id_, name=name, slices=slices, instances=instances, memory_mib=mem, sm=sm,
                   ce=slices, dec=0, enc=0, jpeg=0, ofa=0, placements=placements)


def _starts(starts, size):
    return tuple((s, size) for s in starts)


# A100-SXM4-40GB, from the MIG user guide's -lgip/-lgipp listing
# (https://docs.nvidia.com/datacenter/tesla/mig-user-guide/getting-started-with-mig.html).
A100_40GB = Geometry(
    model="NVIDIA A100-SXM4-40GB", architecture="Ampere", memory_mib=40537,
    profiles=(
        _p(19, "1g.5gb", 1, 7, 4864, 14, _starts(range(7), 1)),
        _p(20, "1g.5gb+me", 1, 1, 4864, 14, _starts(range(7), 1)),
        _p(15, "1g.10gb", 1, 4, 9856, 14, _starts((0, 2, 4, 6), 2)),
        _p(14, "2g.10gb", 2, 3, 9856, 28, _starts((0, 2, 4), 2)),
        _p(9, "3g.20gb", 3, 2, 19968, 42, _starts((0, 4), 4)),
        _p(5, "4g.20gb", 4, 1, 19968, 56, _starts((0,), 4)),
        _p(0, "7g.40gb", 7, 1, 40192, 98, _starts((0,), 8)),
    ))


def fixture_geometry(directory: Path) -> Geometry:
    """Geometry parsed from a real capture's lgip/lgipp (until migfleet.catalog covers it)."""
    row = parse_query_gpu((directory / "query.csv").read_text())[0]
    return geometry_from_lgip((directory / "lgip.txt").read_text(), (directory / "lgipp.txt").read_text(),
                              row.name, row.memory_mib)


@pytest.fixture
def a100() -> Geometry:
    return A100_40GB


@pytest.fixture
def h100() -> Geometry:
    return fixture_geometry(H100_DIR)


@pytest.fixture
def h200() -> Geometry:
    return fixture_geometry(H200_DIR)
