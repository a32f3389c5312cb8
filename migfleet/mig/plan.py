"""Fit check, placement choice and the nvidia-smi actions that move a GPU to its desired layout.

Placement rule (MIG user guide, "Partitioning"): a GPU instance occupies the memory slices
[start, start + size) of one of its profile's placements; instances must not overlap, and their
compute slices must not exceed the GPU's. Placements are created biggest first, as the guide
advises for the A100 (3g.20gb before smaller profiles).
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from itertools import groupby
from dataclasses import dataclass

from migfleet.mig.geometry import Geometry, Profile
from migfleet.mig.desired import ComputeSpec, DesiredGpu, DesiredInstance
from migfleet.mig.state import ComputeInstance, GpuInstance, GpuProcess, GpuState

# NVML_COMPUTE_INSTANCE_PROFILE_<N>_SLICE values (nvml.h), keyed by compute slice count.
CI_PROFILE_ID = {1: 0, 2: 1, 3: 2, 4: 3, 7: 4, 8: 5, 6: 6}


class LayoutError(ValueError):
    """A layout that cannot exist on this GPU model; the message says why in plain words."""

    def __init__(self, reason: str, where: str = ""):
        self.reason, self.where = reason, where
        super().__init__(reason)


@dataclass(frozen=True)
class PlacedInstance:
    profile: Profile
    start: int
    ci_name: str                # compute instance profile name ("3g.20gb" for the full-size CI)
    ci_profile_id: int | None   # None: the default full-size CI, created with -C
    ci_count: int
    where: str = ""
    pinned: bool = False        # placement given explicitly in the inventory

    @property
    def span(self) -> range:
        return range(self.start, self.start + self._size)

    @property
    def _size(self) -> int:
        return dict(self.profile.placements)[self.start]

    def label(self) -> str:
        return f"{self.profile.name} at slice {self.start}"


@dataclass(frozen=True)
class Policy:
    reboot: str = "never"           # mig_reboot_policy: "never" | "if_reset_fails"
    force: bool = False             # mig_force: destroy instances even if a process uses them
    reset_refused: bool = False     # set by the operation after `--gpu-reset` failed
    ignore_pids: frozenset[int] = frozenset()   # our own processes, stopped before changes

    @classmethod
    def from_host_data(cls, data) -> Policy:
        return cls(reboot=data.get("mig_reboot_policy", "never"), force=bool(data.get("mig_force", False)))


@dataclass(frozen=True)
class Action:
    kind: str   # enable_mig | disable_mig | reset_gpu | reboot | stop_process | destroy_ci | destroy_gi
                #   | create_gi | create_ci
    gpu_uuid: str
    gpu_index: int
    command: str
    description: str


@dataclass(frozen=True)
class GpuPlan:
    gpu_uuid: str
    gpu_index: int
    model: str
    converged: bool
    actions: tuple[Action, ...] = ()
    blocked: str | None = None
    needs_reset: bool = False
    needs_reboot: bool = False


# ------------------------------------------------------------------ fit

def _resolve_compute(profile: Profile, spec: ComputeSpec | None, where: str) -> tuple[str, int | None, int]:
    if spec is None:
        return profile.name, None, 1
    ref = spec.profile
    if isinstance(ref, int) or str(ref).isdigit():
        by_id = {v: k for k, v in CI_PROFILE_ID.items()}
        if int(ref) not in by_id:
            raise LayoutError(f"compute profile ID {ref} is not a known compute instance profile", where)
        slices = by_id[int(ref)]
    else:
        name = str(ref).removeprefix("MIG ")
        if name == profile.name:
            slices = profile.slices
        else:
            head, _, rest = name.partition("c.")
            if rest != profile.name or not head.isdigit():
                raise LayoutError(f"compute profile {name} does not belong to GPU instance profile "
                                  f"{profile.name} (expected <N>c.{profile.name})", where)
            slices = int(head)
    if slices > profile.slices or slices * spec.count > profile.slices or spec.count < 1:
        raise LayoutError(f"{spec.count} x {slices}c compute instances need {slices * spec.count} compute "
                          f"slices, {profile.name} has {profile.slices}", where)
    if slices == profile.slices and spec.count == 1:
        return profile.name, None, 1
    return f"{slices}c.{profile.name}", CI_PROFILE_ID[slices], spec.count


def _lookup(geometry: Geometry, ref, where: str) -> Profile:
    try:
        return geometry.profile(ref)
    except KeyError:
        names = ", ".join(f"{p.name} (ID {p.id})" for p in geometry.profiles)
        raise LayoutError(f"profile {ref} does not exist on {geometry.model}; its profiles are {names}",
                          f"{where}.profile" if where else "") from None


def fit(geometry: Geometry, wanted: Sequence[DesiredInstance]) -> tuple[PlacedInstance, ...]:
    """Placements for the wanted instances, in creation order, or LayoutError saying why not."""
    units: list[tuple[Profile, int | None, tuple[str, int | None, int], str]] = []
    for inst in wanted:
        prof = _lookup(geometry, inst.profile, inst.where)
        ci = _resolve_compute(prof, inst.compute, inst.where)
        starts = inst.placements if inst.placements is not None else [None] * inst.count
        units += [(prof, s, ci, inst.where) for s in starts]
    summary = " + ".join(u[0].name for u in units) or "nothing"

    per_profile = Counter(u[0].id for u in units)
    for pid, n in per_profile.items():
        prof = geometry.profile(pid)
        if n > prof.instances:
            where = next(u[3] for u in units if u[0].id == pid)
            raise LayoutError(f"too many {prof.name} instances: {n} of {prof.instances} on {geometry.model}", where)
    used = sum(u[0].slices for u in units)
    if used > geometry.compute_slices:
        raise LayoutError(f"{summary} does not fit {geometry.model}: too many slices: "
                          f"{used} of {geometry.compute_slices}", units[-1][3])

    placed: list[PlacedInstance] = []
    occupied: set[int] = set()
    for prof, start, ci, where in units:
        if start is None:
            continue
        if start not in dict(prof.placements):
            valid = ", ".join(str(s) for s, _ in prof.placements)
            raise LayoutError(f"placement {start} is not valid for {prof.name} on {geometry.model}; "
                              f"valid starts: {valid}", f"{where}.placements" if where else "")
        p = PlacedInstance(prof, start, *ci, where=where, pinned=True)
        clash = next((q for q in placed if set(q.span) & set(p.span)), None)
        if clash:
            raise LayoutError(f"explicit placements clash: {clash.label()} (memory slices {clash.span.start}-"
                              f"{clash.span.stop - 1}) overlaps {p.label()} (memory slices {p.span.start}-"
                              f"{p.span.stop - 1})", where)
        placed.append(p)
        occupied |= set(p.span)

    free = sorted((u for u in units if u[1] is None),
                  key=lambda u: (-u[0].slices, -max(n for _, n in u[0].placements), u[0].id))
    found = _search(free, occupied)
    if found is None:
        raise LayoutError(*_explain(summary, geometry, placed, free, occupied))
    return tuple(sorted(placed + found, key=lambda q: (-q.profile.slices, -q._size, q.start)))


def _search(units, occupied: frozenset[int] | set[int], prev_start: int = -1):
    """Depth-first placement search over the remaining units, biggest first."""
    if not units:
        return []
    (prof, _, ci, where), rest = units[0], units[1:]
    for start, size in prof.placements:
        if start <= prev_start:
            continue    # identical profiles follow each other: try increasing starts only
        span = set(range(start, start + size))
        if span & occupied:
            continue
        next_prev = start if rest and rest[0][0].id == prof.id else -1
        found = _search(rest, occupied | span, next_prev)
        if found is not None:
            return [PlacedInstance(prof, start, *ci, where=where)] + found
    return None


def _explain(summary: str, geometry: Geometry, placed, free, occupied) -> tuple[str, str]:
    """Plain-words reason, from a greedy pass (the search already proved no placement exists)."""
    done = list(placed)
    taken = set(occupied)
    for prof, _, ci, where in free:
        spot = next(((s, n) for s, n in prof.placements if not set(range(s, s + n)) & taken), None)
        if spot is None:
            after = ", ".join(q.label() for q in sorted(done, key=lambda q: q.start)) or "an empty GPU"
            starts = ", ".join(str(s) for s, _ in prof.placements)
            return (f"{summary} does not fit {geometry.model}: after {after}, no placement left for "
                    f"{prof.name} (its starts: {starts})", where)
        done.append(PlacedInstance(prof, spot[0], *ci, where=where))
        taken |= set(range(spot[0], spot[0] + spot[1]))
    return f"{summary} does not fit {geometry.model}: no combination of placements works", free[-1][3]


# ------------------------------------------------------------------ plan

def _creation_order(placed):
    return sorted(placed, key=lambda q: (-q.profile.slices, -q._size, q.start))


def _ci_ok(p: PlacedInstance, cis: Sequence[ComputeInstance]) -> bool:
    return len(cis) == p.ci_count and all(c.name == p.ci_name for c in cis)


def _match(gis: Sequence[GpuInstance], placed: Sequence[PlacedInstance]):
    """Pair existing GIs with wanted instances: same profile, and same start where it is pinned."""
    left, pairs, unplaced = list(gis), {}, []
    for p in sorted(placed, key=lambda q: not q.pinned):
        g = next((g for g in left if g.profile_id == p.profile.id and (not p.pinned or g.start == p.start)), None)
        if g is None:
            unplaced.append(p)
        else:
            left.remove(g)
            pairs[g.gi_id] = p
    return pairs, left, unplaced


def _around(kept: Sequence[GpuInstance], missing: Sequence[PlacedInstance]) -> list[PlacedInstance] | None:
    """Placements for the missing instances that leave the kept GIs where they are, if any."""
    occupied = {s for g in kept for s in range(g.start, g.start + g.size)}
    pinned = [p for p in missing if p.pinned]
    for p in pinned:
        if set(p.span) & occupied:
            return None
        occupied |= set(p.span)
    units = sorted(((p.profile, None, (p.ci_name, p.ci_profile_id, p.ci_count), p.where)
                    for p in missing if not p.pinned),
                   key=lambda u: (-u[0].slices, -max(n for _, n in u[0].placements), u[0].id))
    found = _search(units, occupied)
    return None if found is None else pinned + found


def _foreign(current: GpuState, gis: set[int] | None, policy: Policy) -> list[GpuProcess]:
    """Processes on the GPU (gis None) or on those GPU instances, other than our own."""
    return [pr for pr in current.processes
            if pr.pid not in policy.ignore_pids and (gis is None or pr.gi_id in gis)]


def _users(procs: Sequence[GpuProcess]) -> list[str]:
    return [f"PID {pr.pid} ({pr.name or 'unknown'})" for pr in procs]


# The driver refuses to destroy an instance (or reset a GPU) a process uses: with mig_force the
# process is stopped first, SIGTERM then SIGKILL after 10 s.
STOP_COMMAND = ("kill {pid} 2>/dev/null; i=0; while kill -0 {pid} 2>/dev/null && [ $i -lt 100 ]; "
                "do sleep 0.1; i=$((i+1)); done; kill -9 {pid} 2>/dev/null; true")


def gi_id_lookup(idx: int | str, p: PlacedInstance) -> str:
    """Shell text printing the ID of the GI just created for `p` (IDs are chosen by the driver)."""
    return (f"\"$(nvidia-smi mig -lgi | awk -v g={idx} '$2 == g && $4 == \"{p.profile.name}\" && "
            f"$7 == \"{p.start}:{p._size}\" {{ print $6 }}')\"")


class _Plan:
    """Collects actions for one GPU."""

    def __init__(self, current: GpuState):
        self.cur, self.actions = current, []
        self.idx, self.head = current.index, f"GPU {current.index} ({current.name})"

    def add(self, kind: str, command: str, what: str) -> None:
        self.actions.append(Action(kind, self.cur.uuid, self.idx, command, f"{self.head}: {what}"))

    def done(self, converged=False, blocked=None, reset=False, reboot=False) -> GpuPlan:
        return GpuPlan(self.cur.uuid, self.idx, self.cur.name, converged,
                       () if blocked else tuple(self.actions), blocked, reset, reboot)

    def blocked_by(self, procs: Sequence[GpuProcess], what: str, policy: Policy) -> str | None:
        """Why foreign processes block the change; with mig_force none, and they are stopped first."""
        if procs and not policy.force:
            return f"{self.head}: {what} used by {', '.join(_users(procs))}; stop them or set mig_force to go ahead"
        for pr in procs:
            self.add("stop_process", STOP_COMMAND.format(pid=pr.pid),
                     f"stop PID {pr.pid} ({pr.name or 'unknown'}), which uses it (mig_force)")
        return None

    def destroy(self, cis: Sequence[ComputeInstance], gis: Sequence[GpuInstance]) -> None:
        for c in cis:
            self.add("destroy_ci", f"nvidia-smi mig -i {self.idx} -dci -gi {c.gi_id} -ci {c.ci_id}",
                     f"destroy compute instance {c.ci_id} ({c.name}) of GPU instance {c.gi_id}")
        for g in gis:
            self.add("destroy_gi", f"nvidia-smi mig -i {self.idx} -dgi -gi {g.gi_id}",
                     f"destroy GPU instance {g.gi_id} ({g.name} at slice {g.start})")

    def create(self, placed: Sequence[PlacedInstance]) -> None:
        """create_gi in creation order (runs with the full CI use -C), then -cci for smaller CIs."""
        for default, group in groupby(_creation_order(placed), key=lambda p: p.ci_profile_id is None):
            group = list(group)
            spec = ",".join(f"{p.profile.id}:{p.start}" for p in group)
            tail = "each with one full compute instance" if default else "compute instances next"
            self.add("create_gi", f"nvidia-smi mig -i {self.idx} -cgi {spec}" + (" -C" if default else ""),
                     f"create GPU instances {', '.join(p.label() for p in group)} ({tail})")
        for p in _creation_order(placed):
            if p.ci_profile_id is not None:
                self.create_cis(gi_id_lookup(self.idx, p), p, f"the new GPU instance {p.label()}")

    def create_cis(self, gi: int | str, p: PlacedInstance, name: str = "") -> None:
        ci_id = p.ci_profile_id if p.ci_profile_id is not None else CI_PROFILE_ID.get(p.profile.slices, 0)
        self.add("create_ci", f"nvidia-smi mig -i {self.idx} -gi {gi} -cci {','.join([str(ci_id)] * p.ci_count)}",
                 f"create {p.ci_count} x {p.ci_name} compute instance(s) in {name or f'GPU instance {gi}'}")

    def reset(self, policy: Policy, why: str) -> GpuPlan | None:
        """Add the reset (or reboot); a finished plan when nothing more can follow it."""
        if not policy.reset_refused:
            self.add("reset_gpu", f"nvidia-smi --gpu-reset -i {self.idx}", f"reset the GPU to {why}")
            return None
        if policy.reboot != "if_reset_fails":
            return self.done(blocked=f"{self.head}: GPU reset was refused and mig_reboot_policy is "
                                     f"'{policy.reboot}'; reboot the host to {why}", reset=True)
        self.add("reboot", "systemctl reboot", f"reboot the host to {why} (GPU reset was refused)")
        return self.done(reset=True, reboot=True)


def plan_gpu(current: GpuState, desired: DesiredGpu, geometry: Geometry, policy: Policy = Policy()) -> GpuPlan:
    """Actions that take `current` to `desired`; none when already there. Raises LayoutError."""
    plan = _Plan(current)
    if not desired.mig_enabled:
        return _plan_disable(plan, current, policy)
    placed = fit(geometry, desired.instances)

    if not current.mig_current:     # mode change: enable, reset, then build on the empty GPU
        blocked = plan.blocked_by(_foreign(current, None, policy), "MIG mode must change but the GPU is", policy)
        if blocked:
            return plan.done(blocked=blocked)
        if not current.mig_pending:
            plan.add("enable_mig", f"nvidia-smi -i {plan.idx} -mig 1", "enable MIG mode")
        finished = plan.reset(policy, "make MIG mode Enabled effective")
        if finished:
            return finished
        plan.create(placed)
        return plan.done(reset=True)

    if not current.mig_pending:
        plan.add("enable_mig", f"nvidia-smi -i {plan.idx} -mig 1", "cancel the pending MIG disable")
    cis = {g.gi_id: [c for c in current.compute_instances if c.gi_id == g.gi_id] for g in current.gpu_instances}
    pairs, extra, missing = _match(current.gpu_instances, placed)
    kept_gis = [g for g in current.gpu_instances if g.gi_id in pairs]
    new = _around(kept_gis, missing) if missing else []
    if new is None:     # what exists cannot be extended to the wanted layout: rebuild it all
        pairs, extra, new = {}, list(current.gpu_instances), list(placed)
    bad_ci = {gi for gi, p in pairs.items() if not _ci_ok(p, cis[gi])}
    if not extra and not new and not bad_ci and not plan.actions:
        return plan.done(converged=True)

    doomed_cis = [c for g in current.gpu_instances if g in extra or g.gi_id in bad_ci for c in cis[g.gi_id]]
    blocked = plan.blocked_by(_foreign(current, {c.gi_id for c in doomed_cis} | {g.gi_id for g in extra}, policy),
                              "instances to destroy are", policy)
    if blocked:
        return plan.done(blocked=blocked)
    plan.destroy(doomed_cis, extra)
    plan.create(new)
    for gi in sorted(bad_ci):
        plan.create_cis(gi, pairs[gi])
    return plan.done()


def _plan_disable(plan: _Plan, current: GpuState, policy: Policy) -> GpuPlan:
    if not current.mig_current and not current.mig_pending:
        return plan.done(converged=True)
    if not current.mig_current:         # enable pending, never effective: cancel it
        plan.add("disable_mig", f"nvidia-smi -i {plan.idx} -mig 0", "cancel the pending MIG enable")
        return plan.done()
    blocked = plan.blocked_by(_foreign(current, None, policy), "MIG instances to destroy are", policy)
    if blocked:
        return plan.done(blocked=blocked)
    plan.destroy(current.compute_instances, current.gpu_instances)
    if current.mig_pending:
        plan.add("disable_mig", f"nvidia-smi -i {plan.idx} -mig 0", "disable MIG mode")
    return plan.reset(policy, "make MIG mode Disabled effective") or plan.done(reset=True)


# ------------------------------------------------------------------ boot

_QUERY = ("nvidia-smi --query-gpu=index,uuid,name,pci.bus_id,mig.mode.current,mig.mode.pending,"
          "memory.total,driver_version --format=csv,noheader,nounits")


def boot_script(desired: dict[str, DesiredGpu], geometries: dict[str, Geometry]) -> str:
    """POSIX sh that rebuilds every GPU's layout after boot (GPUs keyed by UUID, found by UUID).

    MIG mode is enabled (with a reset) where it is not already on: Hopper loses it at every boot.
    Any failing step stops the script with a message naming the GPU and the command.
    """
    out = ["#!/bin/sh", "# Rebuilds the MIG layout after boot. Generated by migfleet; do not edit.",
           "set -eu", "fail() { echo \"migfleet-boot: $*\" >&2; exit 1; }",
           "run() { echo \"+ $*\"; \"$@\" || fail \"command failed: $*\"; }",
           "gpu_field() {  # <uuid> <field number of the snapshot query>",
           f"  {_QUERY} | awk -F', ' -v u=\"$1\" -v f=\"$2\" '$2 == u {{ print $f }}'",
           "}",
           ]
    for uuid, want in desired.items():
        geo = geometries[uuid]
        placed = fit(geo, want.instances) if want.mig_enabled else ()
        out += ["", f"# {geo.model} {uuid}",
                f"idx=$(gpu_field {uuid} 1); [ -n \"$idx\" ] || fail \"GPU {uuid} not found\"",
                f"mode=$(gpu_field {uuid} 5)"]
        if not want.mig_enabled:
            out.append('if [ "$mode" = Enabled ]; then run nvidia-smi -i "$idx" -mig 0; '
                       'run nvidia-smi --gpu-reset -i "$idx"; fi')
            continue
        out += ['if [ "$mode" != Enabled ]; then run nvidia-smi -i "$idx" -mig 1; '
                'run nvidia-smi --gpu-reset -i "$idx"; fi',
                f'[ "$(gpu_field {uuid} 5)" = Enabled ] || fail "GPU $idx: MIG mode is not Enabled after reset"']
        for default, group in groupby(_creation_order(placed), key=lambda p: p.ci_profile_id is None):
            spec = ",".join(f"{p.profile.id}:{p.start}" for p in group)
            out.append(f'run nvidia-smi mig -i "$idx" -cgi {spec}' + (" -C" if default else ""))
        custom = [p for p in _creation_order(placed) if p.ci_profile_id is not None]
        for p in custom:
            out += [f'gi={gi_id_lookup("$idx", p)}; [ -n "$gi" ] || fail "GPU $idx: no GPU instance {p.label()}"',
                    f'run nvidia-smi mig -i "$idx" -gi "$gi" -cci {",".join([str(p.ci_profile_id)] * p.ci_count)}']
    out += ["", "echo 'migfleet-boot: MIG layout ready'", ""]
    return "\n".join(out)
