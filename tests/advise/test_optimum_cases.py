"""Cases where advise once answered worse than its own objective allows, each pinned, each checked
against the enumeration (tests/advise/brute.py) as well as by hand; and hosts whose today cannot be
scored (models over an instance's memory)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from migfleet.advise.fleet import solve_hosts
from migfleet.advise.layouts import layout_of
from migfleet.advise.problem import Assignment, Gpu, HostProblem
from migfleet.advise.solve import solve_host
from migfleet.mig import catalog
from tests.advise.brute import Brute
from tests.advise.test_solve import A100, H200, table

REPO = Path(__file__).resolve().parents[2]


def placed(model: str, instances: list[tuple[str, int, list | None]], index: int = 0) -> Gpu:
    """instances: (profile, start, models or None for every model)."""
    geo = catalog.lookup(model)
    layout = layout_of(geo, [(geo.profile(p).id, start) for p, start, _ in instances])
    by_start = {start: (None if ms is None else frozenset(ms)) for _, start, ms in instances}
    return Gpu(index, geo, Assignment(layout, tuple(by_start[gi.start] for gi in layout.gis)))


def key(result) -> tuple:
    s = result.score
    return s.missing, round(s.unmet, 6), s.disruption, s.slices


def brute(problem) -> tuple:
    m, u, d, s = Brute(problem).optimum()
    return m, round(u, 6), d, s


def test_alike_instances_of_today_with_different_models_are_kept_and_one_added():
    # Five 1g.18gb of today, loading different models. m1 needs 51.2 (4 x 10 today): keeping all five
    # and adding one 2g.35gb is one instance changed. The pruning once judged every layout that keeps
    # all five dominated and proposed 7 changes.
    cap = table(H200, {"1g.18gb": {"m1": 10.0}, "2g.35gb": {"m0": 27.0, "m1": 25.1}, "3g.71gb": {"m0": 40.5},
                       "4g.71gb": {"m0": 40.5, "m1": 50.9}, "7g.141gb": {"m0": 75.3, "m1": 38.4}},
                memory={"m0": 6000, "m1": 2000})
    today = placed(H200, [("1g.18gb", 0, ["m0", "m1"]), ("1g.18gb", 1, ["m1"]), ("1g.18gb", 4, None),
                          ("1g.18gb", 5, ["m0", "m1"]), ("1g.18gb", 6, ["m0"])])
    problem = HostProblem("h", [today], {"m0": 3.6, "m1": 39.4}, cap, {"m0": 6000.0, "m1": 2000.0}, 1.3, 1.3)
    r = solve_host(problem)
    assert key(r) == brute(problem) == (0, 0.0, 1, 7)
    assert all(gi in r.proposal[0].layout.gis for gi in today.today.layout.gis)


def test_today_instances_of_one_profile_with_different_models_count_as_that_many():
    # Two 2g.35gb of today, one loading m0, the other m0 and m1, and a 1g.35gb: keep all three and add
    # a 2g.35gb (1 changed, 7 slices). The pruning counted the two 2g.35gb kinds as one 2g.35gb, so a
    # layout with a 1g where the new 2g goes seemed to dominate it, and the answer changed 4.
    cap = table(H200, {"1g.18gb": {"m0": 9.6, "m1": 6.5}, "1g.35gb": {"m1": 5.8}, "2g.35gb": {"m0": 20.2, "m1": 23.7},
                       "3g.71gb": {"m0": 31.3, "m1": 16.1}, "4g.71gb": {"m0": 31.5, "m1": 55.4},
                       "7g.141gb": {"m0": 64.5, "m1": 103.5}}, memory={"m0": 6000, "m1": 12000})
    today = placed(H200, [("2g.35gb", 0, ["m0"]), ("2g.35gb", 2, ["m0", "m1"]), ("1g.35gb", 6, None)])
    problem = HostProblem("h", [today], {"m0": 7.6, "m1": 40.5}, cap, {"m0": 6000.0, "m1": 12000.0}, 1.3, 1.3)
    r = solve_host(problem)
    assert key(r) == brute(problem) == (0, 0.0, 1, 7)
    assert all(gi in r.proposal[0].layout.gis for gi in today.today.layout.gis)


def test_a_profile_without_a_rate_holds_the_model_that_fits_nowhere_else():
    # m0 takes 30000 MiB: only a 7g.40gb holds it, and the table has no rate for 7g.40gb. It is
    # served today (no: demand only), so an instance must load it: the 7g, carrying m1 too.
    cap = table(A100, {"1g.5gb": {"m1": 8.5}, "1g.10gb": {"m1": 10.4}, "3g.20gb": {"m1": 34.0}},
                memory={"m0": 30000, "m1": 2000})
    today = placed(A100, [("1g.10gb", 0, ["m1"]), ("2g.10gb", 2, ["m1"]), ("1g.5gb", 5, ["m1"]),
                          ("1g.5gb", 6, ["m1"])])
    problem = HostProblem("h", [today], {"m0": 13.8}, cap, {"m0": 30000.0, "m1": 2000.0}, 1.3, 1.3)
    r = solve_host(problem)
    assert key(r) == brute(problem)
    assert r.score.missing == 0           # once: m0 on no instance, as the 7g was not a candidate


def test_more_than_four_models_a_new_instance_loads_as_many_as_fit():
    # Six models; a 3g.20gb serves m0, m2 and m3 at once. A new instance was once held to two models,
    # so the answer took another instance (3 changed) where two do (keep the 2g, change the 1g's).
    cap = table(A100, {"1g.5gb": {"m1": 9.2, "m2": 7.2, "m3": 5.3, "m5": 10.4},
                       "2g.10gb": {"m1": 26.1, "m2": 16.8, "m3": 29.1, "m5": 11.9},
                       "3g.20gb": {"m0": 39.2, "m2": 44.2, "m3": 31.6, "m5": 40.9},
                       "4g.20gb": {"m1": 29.1, "m2": 23.2, "m3": 24.0, "m5": 34.6},
                       "7g.40gb": {"m0": 53.7, "m2": 77.6, "m3": 86.0, "m4": 61.6}},
                memory={"m0": 2000, "m4": 30000})
    today = placed(A100, [("2g.10gb", 0, ["m1", "m5"]), ("1g.5gb", 4, ["m5"]), ("1g.10gb", 6, ["m2"])])
    memory = {"m0": 2000.0, "m1": 0.0, "m2": 0.0, "m3": 0.0, "m4": 30000.0, "m5": 0.0}
    problem = HostProblem("h", [today], {"m0": 8.4, "m1": 8.8, "m3": 3.3, "m5": 1.4}, cap, memory, 1.3, 1.3)
    r = solve_host(problem)
    assert key(r) == brute(problem)
    assert any(len(ms) >= 3 for _, ms in r.proposal[0].pairs() if ms is not None)


def test_today_over_memory_is_named_and_solved_from_an_empty_gpu_other_hosts_unaffected():
    cap = table(A100, {"1g.5gb": {"a": 10, "b": 10}, "3g.20gb": {"a": 28, "b": 28}, "7g.40gb": {"a": 60, "b": 60}},
                memory={"a": 3000, "b": 3000})
    memory = {"a": 3000.0, "b": 3000.0}
    bad = placed(A100, [("1g.5gb", 0, ["a", "b"]), ("3g.20gb", 4, ["a"])], index=0)      # 6000 MiB on 4864
    good = placed(A100, [("3g.20gb", 0, ["a"]), ("3g.20gb", 4, ["b"])], index=1)
    over = HostProblem("gpu-1", [bad, good], {"a": 20.0, "b": 30.0}, cap, memory, 1.3, 1.0)
    other = HostProblem("gpu-2", [placed(A100, [("3g.20gb", 0, ["a"]), ("3g.20gb", 4, ["b"])])],
                        {"a": 20.0, "b": 30.0}, cap, memory, 1.3, 1.0)
    alone = solve_host(other)
    first, second = solve_hosts([over, other], workers=1)
    assert first.notes == ["gpu-1: GPU 0: today's instance 1g.5gb@0 lists a, b: 6000 MiB together, more than its "
                           "4864 MiB: today's layout cannot hold its models, so the GPU is solved as if empty"]
    assert first.problem.gpus[0].today.layout.gis == () and first.problem.gpus[1].today == good.today
    assert first.score.missing == 0 and first.score.unmet == pytest.approx(0)
    assert second.notes == [] and second.proposal == alone.proposal and key(second) == key(alone)


def test_identical_hosts_are_solved_once_and_told_apart():
    cap = table(A100, {"1g.5gb": {"a": 10}, "3g.20gb": {"a": 28}})
    hosts = [HostProblem(f"gpu-{i}", [placed(A100, [("1g.5gb", 0, ["a"])], index=i)], {"a": 40.0}, cap)
             for i in range(3)]
    results = solve_hosts(hosts, workers=1)
    assert [r.problem.host for r in results] == ["gpu-0", "gpu-1", "gpu-2"]
    assert [r.problem.gpus[0].index for r in results] == [0, 1, 2]
    assert len({tuple(r.proposal) for r in results}) == 1 and key(results[0]) == key(solve_host(hosts[0]))


def test_parallel_workers_give_the_same_answers_as_one():
    cap = table(A100, {"1g.5gb": {"a": 10, "b": 9}, "2g.10gb": {"a": 19, "b": 18}, "3g.20gb": {"a": 28, "b": 27}})
    hosts = [HostProblem(f"gpu-{i}", [placed(A100, [("3g.20gb", 0, ["a"]), ("3g.20gb", 4, ["b"])])],
                         {"a": 10.0 + 7 * i, "b": 30.0 - 5 * i}, cap) for i in range(4)]
    one = solve_hosts(hosts, workers=1, cache=False)
    two = solve_hosts(hosts, workers=2, cache=False)
    assert [r.proposal for r in one] == [r.proposal for r in two]


def test_the_solver_writes_nothing_to_stdout():
    code = ("import os, sys\nfrom migfleet.advise.program import stdout_to_stderr\n"
            "with stdout_to_stderr():\n    os.write(1, b'from the solver\\n')\nprint('mine')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=60)
    assert done.stdout == "mine\n" and done.stderr == "from the solver\n"
