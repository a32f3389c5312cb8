"""Property: the planner calls a GPU converged exactly when the spec suite and drift find no
difference, over random (current, desired) pairs on every catalog model."""
from __future__ import annotations

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from migfleet.fleet import checks
from migfleet.mig import catalog, placed
from migfleet.mig.desired import ComputeSpec, DesiredGpu, DesiredInstance
from migfleet.mig.fit import LayoutError
from migfleet.mig.geometry import CI_PROFILE_ID, default_ci
from migfleet.mig.plan import plan_gpu, target_layout
from migfleet.mig.state import ComputeInstance, GpuInstance, GpuState

MODELS = catalog.all_models()


@st.composite
def gpus(draw):
    """A GPU as nvidia-smi could show it: any mode, non-overlapping GIs, full or small CIs."""
    geo = catalog.lookup(draw(st.sampled_from(MODELS)))
    current = draw(st.booleans())
    pending = current if draw(st.integers(0, 3)) else not current     # a pending change now and then
    gis, cis, taken = [], [], set()
    if current:
        for _ in range(draw(st.integers(0, 7))):
            prof = draw(st.sampled_from(geo.profiles))
            start, size = draw(st.sampled_from(prof.placements))
            span = set(range(start, start + size))
            if span & taken or sum(g.size for g in gis) + size > geo.memory_slices:
                continue
            taken |= span
            gi_id = len(gis) + 1
            gis.append(GpuInstance(gi_id, prof.id, prof.name, start, size))
            if draw(st.booleans()) or prof.slices == 1:
                cis.append(ComputeInstance(gi_id, 0, default_ci(prof), prof.name, 0, prof.slices))
            else:
                n = draw(st.integers(0 if draw(st.integers(0, 5)) == 0 else 1, prof.slices))
                cis += [ComputeInstance(gi_id, c, CI_PROFILE_ID[1], f"1c.{prof.name}", c, 1) for c in range(n)]
    return geo, GpuState(0, "GPU-00000000-0000-4000-8000-000000000001", geo.model, "00000000:18:00.0", current,
                         pending, gpu_instances=tuple(gis), compute_instances=tuple(cis))


def _like(gpu: GpuState, geo, drop: int | None, pin: bool) -> DesiredGpu:
    """What the GPU holds, as inventory instances (counts or pinned), maybe one dropped."""
    out = []
    for n, g in enumerate(gpu.gpu_instances):
        if n == drop:
            continue
        cis = [c for c in gpu.compute_instances if c.gi_id == g.gi_id]
        prof = geo.profile(g.profile_id)
        full = len(cis) == 1 and cis[0].profile_id == default_ci(prof)
        compute = None if full or not cis else ComputeSpec(f"1c.{prof.name}", len(cis))
        out.append(DesiredInstance(g.profile_id, placements=(g.start,), compute=compute) if pin
                   else DesiredInstance(g.profile_id, 1, compute=compute))
    return DesiredGpu(True, tuple(out))


@st.composite
def desireds(draw, geo, gpu):
    if draw(st.booleans()):       # near the boundary: what the GPU holds, or almost
        drop = draw(st.none() | st.integers(0, max(0, len(gpu.gpu_instances) - 1)))
        return _like(gpu, geo, drop, draw(st.booleans()))
    if not draw(st.integers(0, 5)):
        return DesiredGpu(False)
    out = []
    for _ in range(draw(st.integers(0, 4))):
        prof = draw(st.sampled_from(geo.profiles))
        compute = None
        if prof.slices > 1 and draw(st.booleans()):
            compute = ComputeSpec(f"1c.{prof.name}", draw(st.integers(1, prof.slices)))
        if draw(st.booleans()):
            out.append(DesiredInstance(prof.name, placements=(draw(st.sampled_from(prof.placements))[0],),
                                       compute=compute))
        else:
            out.append(DesiredInstance(prof.name, draw(st.integers(1, 3)), compute=compute))
    return DesiredGpu(True, tuple(out))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_converged_exactly_when_spec_and_drift_find_nothing(data):
    geo, gpu = data.draw(gpus())
    want = data.draw(desireds(geo, gpu))
    try:
        plan = plan_gpu(gpu, want, geo)
    except LayoutError:
        event("layout cannot exist")
        return      # a layout that cannot exist: validate refuses it before any host is touched
    event("converged" if plan.converged else "blocked" if plan.blocked else "changes")
    spec = checks.compare_gpu("h", gpu, target_layout(gpu, want, geo), geo)
    assert plan.converged == (spec == [])
    assert plan.converged == (plan.actions == () and plan.blocked is None)
    # what the plan aims at is a layout the inventory asks for: planning again from it changes nothing
    if not plan.blocked:
        landed = _landed(gpu, plan.target)
        assert plan_gpu(landed, want, geo).converged
        assert checks.compare_gpu("h", landed, target_layout(landed, want, geo), geo) == []


def _landed(gpu: GpuState, layout: placed.GpuLayout) -> GpuState:
    """The GPU once it holds `layout` (ids fresh, as after a re-creation)."""
    gis, cis = [], []
    geo = catalog.lookup(gpu.name)
    for n, g in enumerate(layout.gis, start=1):
        prof = geo.profile(g.profile_id)
        gis.append(GpuInstance(n, prof.id, prof.name, g.start, dict(prof.placements)[g.start]))
        cis += [ComputeInstance(n, c, ci, prof.name, c, 1) for c, ci in enumerate(g.cis)]
    on = layout.mig
    return GpuState(gpu.index, gpu.uuid, gpu.name, gpu.pci_bus_id, on, on, gpu_instances=tuple(gis),
                    compute_instances=tuple(cis))
