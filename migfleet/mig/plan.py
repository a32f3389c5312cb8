"""The plan of one GPU: the target placed layout, and the nvidia-smi actions that reach it.

Instances that already match stay where they are; only what differs is destroyed or created.
The GPU is converged exactly when its live layout equals the target (`placed.GpuLayout`), the
same equality the spec suite, drift and the boot record use.

A MIG mode change goes by architecture (NVIDIA MIG user guide,
https://docs.nvidia.com/datacenter/tesla/mig-user-guide/deployment-considerations.html: "Setting MIG
mode on the A100/A30 requires a GPU reset"; Getting Started with MIG > Enable MIG Mode,
https://docs.nvidia.com/datacenter/tesla/mig-user-guide/getting-started-with-mig.html#enable-mig-mode:
from Hopper on, the change takes effect without a reset and is not kept across a reboot):
- Ampere: set the mode, then reset the GPU (`reset_gpu`);
- Hopper and later (any other architecture): set the mode, read it again and reset only if it is
  still pending (`settle_mig`, resolved where it runs: the operation, the boot replay). The mode is
  set again even when it is pending already: the driver switches an idle GPU at once, and one held
  when the mode was first set is to be retried once idle (NVML nvmlDeviceSetMigMode,
  https://docs.nvidia.com/deploy/nvml-api/group__nvmlMultiInstanceGPU.html: "The caller of this API
  is expected to idle the device and retry setting the mode").
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import groupby

from migfleet.mig import placed, smi
from migfleet.mig.desired import DesiredGpu
from migfleet.mig.fit import LayoutError, ModelsAt, keep_existing, layout_of, models_at, place, place_all, wants
from migfleet.mig.geometry import Geometry, ci_name, default_ci
from migfleet.mig.placed import DISABLED, ENABLED, GpuLayout, PlacedGi
from migfleet.mig.state import GpuInstance, GpuProcess, GpuState

__all__ = ["Action", "GpuPlan", "LayoutError", "Policy", "plan_gpu", "resets_for_mode", "target_layout", "target_models",
           "live_models"]


@dataclass(frozen=True)
class Policy:
    reboot: str = "never"           # mig_reboot_policy: "never" | "if_reset_fails"
    force: bool = False             # mig_force: destroy instances even if a process uses them
    reset_refused: bool = False     # set by the operation after `--gpu-reset` failed
    ignore_pids: frozenset[int] = frozenset()   # our own processes, stopped before changes


@dataclass(frozen=True)
class Action:
    kind: str   # enable_mig | disable_mig | settle_mig | reset_gpu | reboot | stop_process | destroy_ci
                #   | destroy_gi | create_gi | create_ci
    command: str        # create_ci on a new GPU instance: "{gi}" stands for its ID, known once created;
                        # settle_mig: the MIG mode query, then smi.reset_gpu only if still pending
    description: str
    gpu: int                        # the GPU's index
    gi_start: int | None = None     # create_ci on a new GPU instance: where that instance starts
    cis: tuple[int, ...] = ()       # create_ci: the compute instance profile IDs

    def command_now(self, run) -> str:
        """The command to run now; in a GPU instance created moments ago, its ID (the driver's choice)
        read off `mig -lgi` through `run(command) -> (rc, output)`, or smi.ParseError."""
        if self.gi_start is None:
            return self.command
        rc, out = run(smi.list_gis(self.gpu))
        return smi.create_cis(self.gpu, smi.gi_id_at(out, self.gpu, self.gi_start), self.cis)


@dataclass(frozen=True)
class GpuPlan:
    gpu: GpuState
    target: GpuLayout
    actions: tuple[Action, ...] = ()
    blocked: str | None = None
    needs_reset: bool = False         # a reset planned for sure (Ampere); settle_mig resets only if pending
    needs_reboot: bool = False
    created: tuple[PlacedGi, ...] = ()      # GPU instances the actions create
    models: ModelsAt = field(default_factory=dict, compare=False)   # the target's models by GI start

    @property
    def live(self) -> GpuLayout:
        return placed.live(self.gpu)

    @property
    def converged(self) -> bool:
        return not self.blocked and self.target == self.live


# The driver refuses to destroy an instance (or reset a GPU) a process uses: with mig_force the
# process is stopped first, SIGTERM then SIGKILL after 10 s.
STOP_COMMAND = ("kill {pid} 2>/dev/null; i=0; while kill -0 {pid} 2>/dev/null && [ $i -lt 100 ]; "
                "do sleep 0.1; i=$((i+1)); done; kill -9 {pid} 2>/dev/null; true")


class _Steps:
    """Collects one GPU's actions."""

    def __init__(self, gpu: GpuState, geometry: Geometry | None):
        self.gpu, self.geometry, self.actions = gpu, geometry, []
        self.idx, self.head = gpu.index, f"GPU {gpu.index} ({gpu.name})"

    @property
    def resets(self) -> bool:
        return any(a.kind == "reset_gpu" for a in self.actions)

    def add(self, kind: str, command: str, what: str, gi_start: int | None = None, cis: tuple[int, ...] = ()) -> None:
        self.actions.append(Action(kind, command, f"{self.head}: {what}", self.idx, gi_start, cis))

    def blocked_by(self, procs: Sequence[GpuProcess], what: str, policy: Policy) -> str | None:
        """Why foreign processes block the change; with mig_force none, and they are stopped first."""
        if procs and not policy.force:
            users = ", ".join(f"PID {p.pid} ({p.name or 'unknown'})" for p in procs)
            return f"{self.head}: {what} used by {users}; stop them or set mig_force to go ahead"
        for pr in procs:
            self.add("stop_process", STOP_COMMAND.format(pid=pr.pid),
                     f"stop PID {pr.pid} ({pr.name or 'unknown'}), which uses it (mig_force)")
        return None

    def destroy(self, gis: Sequence[GpuInstance], keep_gi: bool = False) -> None:
        for g in gis:
            for c in (c for c in self.gpu.compute_instances if c.gi_id == g.gi_id):
                self.add("destroy_ci", smi.destroy_ci(self.idx, c.gi_id, c.ci_id),
                         f"destroy compute instance {c.ci_id} ({c.name}) of GPU instance {g.gi_id}")
        for g in ([] if keep_gi else gis):
            self.add("destroy_gi", smi.destroy_gi(self.idx, g.gi_id),
                     f"destroy GPU instance {g.gi_id} ({g.name} at slice {g.start})")

    def create(self, new: Sequence[PlacedGi]) -> None:
        """GPU instances biggest first; one `-cgi ... -C` for those with one full CI, then `-cci`."""
        profile = self.geometry.profile
        order = sorted(new, key=lambda g: (-profile(g.profile_id).slices, g.start))
        full = lambda g: g.cis == (default_ci(profile(g.profile_id)),)  # noqa: E731
        for is_full, group in groupby(order, key=full):
            group = list(group)
            tail = "each with one full compute instance" if is_full else "compute instances next"
            self.add("create_gi", smi.create_gis(self.idx, [(g.profile_id, g.start) for g in group], is_full),
                     f"create GPU instances {', '.join(self.words(g) for g in group)} ({tail})")
        for g in order:
            if not full(g):
                self.add("create_ci", smi.create_cis(self.idx, "{gi}", g.cis),   # type: ignore[arg-type]
                         f"create {self.ci_words(g)} in the new GPU instance {self.words(g)}", g.start, g.cis)

    def create_cis(self, gi: GpuInstance, want: PlacedGi) -> None:
        self.add("create_ci", smi.create_cis(self.idx, gi.gi_id, want.cis),
                 f"create {self.ci_words(want)} in GPU instance {gi.gi_id} ({gi.name} at slice {gi.start})",
                 cis=want.cis)

    def words(self, g: PlacedGi) -> str:
        return f"{self.geometry.profile(g.profile_id).name} at slice {g.start}"

    def ci_words(self, g: PlacedGi) -> str:
        prof = self.geometry.profile(g.profile_id)
        return placed.ci_words([ci_name(prof, c) for c in g.cis])

    def mode_change(self, policy: Policy, enable: bool, pending: bool) -> str | None:
        """Sets MIG mode by architecture (module docstring); returns why it is blocked, if it is.
        `pending`: the wanted mode is pending already."""
        word = "Enabled" if enable else "Disabled"
        kind, command = ("enable_mig", smi.enable_mig(self.idx)) if enable else ("disable_mig", smi.disable_mig(self.idx))
        verb = "enable" if enable else "disable"
        if resets_for_mode(self.geometry) or policy.reset_refused:
            if not pending:
                self.add(kind, command, f"{verb} MIG mode")
            return self.reset(policy, f"make MIG mode {word} effective")
        again = " again (it is pending: the GPU was busy)" if pending else ""
        self.add(kind, command, f"{verb} MIG mode{again}; in effect at once when nothing holds the GPU")
        self.add("settle_mig", smi.mig_mode(self.idx),
                 f"read MIG mode again; reset the GPU only if {word} is still pending")
        return None

    def reset(self, policy: Policy, why: str) -> str | None:
        """Adds the reset (or the reboot); returns why it is blocked, if it is."""
        if not policy.reset_refused:
            self.add("reset_gpu", smi.reset_gpu(self.idx), f"reset the GPU to {why}")
            return None
        if policy.reboot != "if_reset_fails":
            return (f"{self.head}: GPU reset was refused and mig_reboot_policy is '{policy.reboot}'; "
                    f"reboot the host to {why}")
        self.add("reboot", "systemctl reboot", f"reboot the host to {why} (GPU reset was refused)")
        return None


def resets_for_mode(geometry: Geometry | None) -> bool:
    """Whether a MIG mode change takes a GPU reset: Ampere (A100, A30). Hopper and later (and a model
    whose architecture is unknown) are read again instead, and reset only if still pending."""
    return geometry is not None and geometry.architecture == "Ampere"


def _foreign(gpu: GpuState, gis: set[int] | None, policy: Policy) -> list[GpuProcess]:
    """Processes on the GPU (gis None) or on those GPU instances, other than our own."""
    return [p for p in gpu.processes if p.pid not in policy.ignore_pids and (gis is None or p.gi_id in gis)]


def target_layout(gpu: GpuState, desired: DesiredGpu, geometry: Geometry | None) -> GpuLayout:
    """What the GPU should hold: the plan's target (LayoutError when the layout cannot exist)."""
    return target_models(gpu, desired, geometry)[0]


def target_models(gpu: GpuState, desired: DesiredGpu, geometry: Geometry | None) -> tuple[GpuLayout, ModelsAt]:
    """The plan's target, and beside it the models of its GPU instances by start (LayoutError when
    the layout cannot exist)."""
    if not desired.mig_enabled:
        return GpuLayout(DISABLED), {}
    target, _, _, _, models = _target(gpu, desired, geometry)
    return target, models


def live_models(gpu: GpuState, desired: DesiredGpu, geometry: Geometry) -> ModelsAt:
    """The target's models by start, of the live GPU instances that are the ones the plan keeps there
    (none when the layout cannot exist: drift and spec say why; those Tritons load every model)."""
    try:
        target, models = target_models(gpu, desired, geometry)
    except LayoutError:
        return {}
    now = placed.live(gpu)
    return {s: m for s, m in models.items() if now.at(s) and now.at(s) == target.at(s)}


def _target(gpu: GpuState, desired: DesiredGpu, geometry: Geometry):
    """(target layout, kept {gi_id: PlacedGi}, GIs to destroy, new PlacedGis, models by GI start)."""
    units = wants(geometry, desired.instances)
    on_empty = place_all(geometry, units)       # raises LayoutError when it cannot exist at all
    empty = layout_of(on_empty)
    if not gpu.mig_current:
        return empty, {}, [], list(empty.gis), models_at(units, on_empty)
    cis_of = lambda g: tuple(sorted(c.profile_id for c in gpu.compute_instances if c.gi_id == g.gi_id))  # noqa
    kept, missing = keep_existing(gpu.gpu_instances, units, cis_of)
    occupied = {s for g in gpu.gpu_instances if g.gi_id in kept for s in range(g.start, g.start + g.size)}
    found = place(missing, occupied) if missing else []
    if found is None:       # nothing that exists can stay: rebuild it all
        return empty, {}, list(gpu.gpu_instances), list(empty.gis), models_at(units, on_empty)
    by_id = {g.gi_id: g for g in gpu.gpu_instances}
    keep = {gi: PlacedGi(by_id[gi].start, u.profile.id, tuple(sorted(u.cis))) for gi, u in kept.items()}
    new = list(layout_of(found).gis)
    doomed = [g for g in gpu.gpu_instances if g.gi_id not in kept]
    models = models_at(units, [(u, by_id[gi].start) for gi, u in kept.items()] + list(found))
    return GpuLayout(ENABLED, (*keep.values(), *new)), keep, doomed, new, models


def plan_gpu(gpu: GpuState, desired: DesiredGpu, geometry: Geometry | None, policy: Policy = Policy()) -> GpuPlan:
    """Target and actions that take `gpu` to `desired`; no action when it is there. Raises LayoutError."""
    steps = _Steps(gpu, geometry)
    if not desired.mig_enabled:
        return _plan_disable(steps, gpu, policy)
    target, want_of, doomed, new, models = _target(gpu, desired, geometry)
    live = placed.live(gpu)
    if target == live:
        return GpuPlan(gpu, target, models=models)

    def done(blocked=None, reset=False, reboot=False) -> GpuPlan:
        created = () if blocked or reboot else tuple(new)
        return GpuPlan(gpu, target, () if blocked else tuple(steps.actions), blocked, reset, reboot, created, models)

    if not gpu.mig_current:     # mode change (by architecture), then build on the empty GPU
        blocked = steps.blocked_by(_foreign(gpu, None, policy), "MIG mode must change but the GPU is", policy)
        if blocked:
            return done(blocked)
        blocked = steps.mode_change(policy, True, gpu.mig_pending)
        if blocked or policy.reset_refused:
            return done(blocked, reset=True, reboot=not blocked)
        steps.create(new)
        return done(reset=steps.resets)

    if not gpu.mig_pending:
        steps.add("enable_mig", smi.enable_mig(steps.idx), "cancel the pending MIG disable")
    bad_ci = [g for g in gpu.gpu_instances if g.gi_id in want_of and live.at(g.start) != want_of[g.gi_id]]
    touched = {g.gi_id for g in doomed + bad_ci}
    blocked = steps.blocked_by(_foreign(gpu, touched, policy), "instances to destroy are", policy)
    if blocked:
        return done(blocked)
    steps.destroy(bad_ci, keep_gi=True)
    steps.destroy(doomed)
    steps.create(new)
    for g in bad_ci:
        steps.create_cis(g, want_of[g.gi_id])
    return done()


def _plan_disable(steps: _Steps, gpu: GpuState, policy: Policy) -> GpuPlan:
    target = GpuLayout(DISABLED)
    if target == placed.live(gpu):
        return GpuPlan(gpu, target)

    def done(blocked=None, reset=False, reboot=False) -> GpuPlan:
        return GpuPlan(gpu, target, () if blocked else tuple(steps.actions), blocked, reset, reboot)

    if not gpu.mig_current:         # enable pending, never effective: cancel it
        steps.add("disable_mig", smi.disable_mig(steps.idx), "cancel the pending MIG enable")
        return done()
    blocked = steps.blocked_by(_foreign(gpu, None, policy), "MIG instances to destroy are", policy)
    if blocked:
        return done(blocked)
    steps.destroy(gpu.gpu_instances)
    blocked = steps.mode_change(policy, False, not gpu.mig_pending)
    return done(blocked, reset=steps.resets or policy.reset_refused,
                reboot=bool(policy.reset_refused and not blocked))
