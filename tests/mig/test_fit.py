"""fit(): can a layout exist on a GPU model, where do its instances go, in which order."""
from __future__ import annotations

import pytest

from migfleet.mig.desired import ComputeSpec
from migfleet.mig.desired import DesiredInstance as D
from migfleet.mig.fit import LayoutError, fit


def layout(geometry, placed):
    """(profile name, start) of a placed layout's GPU instances, by start."""
    return [(geometry.profile(g.profile_id).name, g.start) for g in placed.gis]


def test_issue_case_3g_3g_1g_does_not_fit_a100(a100):
    with pytest.raises(LayoutError) as e:
        fit(a100, [D("3g.20gb", 2), D("1g.5gb", where="$.x")])
    assert str(e.value) == ("3g.20gb + 3g.20gb + 1g.5gb does not fit NVIDIA A100-SXM4-40GB: after 3g.20gb at "
                            "slice 0, 3g.20gb at slice 4, no placement left for 1g.5gb (its starts: 0, 1, 2, 3, 4, 5, 6)")
    assert e.value.where == "$.x"


def test_4_2_1_fits_a100_biggest_first(a100):
    assert layout(a100, fit(a100, [D("1g.5gb"), D("2g.10gb"), D("4g.20gb")])) == \
        [("4g.20gb", 0), ("2g.10gb", 4), ("1g.5gb", 6)]


def test_seven_1g_5gb(a100):
    assert layout(a100, fit(a100, [D("1g.5gb", 7)])) == [("1g.5gb", s) for s in range(7)]


def test_3_2_1_1_needs_backtracking(a100):
    # Greedy 3g at 0 leaves 4:2 and 6:1 only; the search moves the 3g to 4 (as the guide's example 2).
    placed = fit(a100, [D("3g.20gb"), D("2g.10gb"), D("1g.5gb", 2)])
    assert layout(a100, placed) == [("2g.10gb", 0), ("1g.5gb", 2), ("1g.5gb", 3), ("3g.20gb", 4)]


def test_h100_seven_1g_10gb(h100):
    assert layout(h100, fit(h100, [D("1g.10gb", 7)])) == [("1g.10gb", s) for s in range(7)]


def test_h100_four_1g_20gb(h100):
    assert layout(h100, fit(h100, [D("1g.20gb", 4)])) == [("1g.20gb", s) for s in (0, 2, 4, 6)]


def test_h100_five_1g_20gb(h100):
    with pytest.raises(LayoutError, match="too many 1g.20gb instances: 5 of 4"):
        fit(h100, [D("1g.20gb", 5)])


def test_h200_profiles_by_id_and_full_name(h200):
    assert layout(h200, fit(h200, [D(9), D("MIG 3g.71gb")])) == [("3g.71gb", 0), ("3g.71gb", 4)]


def test_unknown_profile_names_the_sku_profiles(a100, h100):
    with pytest.raises(LayoutError, match=r"profile 1g.10gb\+me does not exist on NVIDIA A100-SXM4-40GB; "
                                          r"its profiles are 1g.5gb \(ID 19\), 1g.5gb\+me \(ID 20\)"):
        fit(a100, [D("1g.10gb+me")])
    with pytest.raises(LayoutError, match="profile 3g.20gb does not exist on NVIDIA H100 80GB HBM3"):
        fit(h100, [D("3g.20gb")])


def test_too_many_slices(a100):
    with pytest.raises(LayoutError, match="too many slices: 8 of 7"):
        fit(a100, [D("4g.20gb"), D("2g.10gb", 2)])


def test_explicit_placements_clash(a100):
    with pytest.raises(LayoutError, match=r"explicit placements clash: 3g.20gb at slice 0 .memory slices 0-3. "
                                          r"overlaps 1g.5gb at slice 3"):
        fit(a100, [D("3g.20gb", placements=(0,)), D("1g.5gb", placements=(3,))])


def test_explicit_placement_honoured_and_rest_around_it(a100):
    placed = fit(a100, [D("1g.5gb", placements=(0,)), D("3g.20gb"), D("2g.10gb")])
    assert layout(a100, placed) == [("1g.5gb", 0), ("2g.10gb", 2), ("3g.20gb", 4)]


def test_invalid_explicit_start(a100):
    with pytest.raises(LayoutError, match="placement 1 is not valid for 2g.10gb .* valid starts: 0, 2, 4"):
        fit(a100, [D("2g.10gb", placements=(1,))])


def test_compute_profiles(a100):
    (p,) = fit(a100, [D("3g.20gb", compute=ComputeSpec("1c.3g.20gb", 3))]).gis
    assert p.cis == (0, 0, 0)           # three one-slice compute instances (NVML CI profile 0)
    (p,) = fit(a100, [D("3g.20gb", compute=ComputeSpec("3g.20gb"))]).gis
    assert p.cis == (2,)                # the full-size CI of a 3-slice GI
    with pytest.raises(LayoutError, match="compute profile 1c.4g.20gb does not belong to GPU instance profile 3g.20gb"):
        fit(a100, [D("3g.20gb", compute=ComputeSpec("1c.4g.20gb"))])
    with pytest.raises(LayoutError, match="2 x 2c compute instances need 4 compute slices, 3g.20gb has 3"):
        fit(a100, [D("3g.20gb", compute=ComputeSpec(1, 2))])


def test_empty_layout(a100):
    assert fit(a100, []).gis == ()
