"""A small MIG state machine behind pyinfra's @fake connector, for operation tests.

It applies the nvidia-smi command forms migfleet sends (docs/ARCHITECTURE.md) to GpuState values
and answers the snapshot fact with them; every command run is recorded in `executed`.
"""
from __future__ import annotations

import re
from dataclasses import replace

from pyinfra.connectors.fake import FakeConnector
from pyinfra.connectors.util import CommandOutput, OutputLine

from migfleet.mig import catalog
from migfleet.mig.geometry import default_ci
from migfleet.mig import smi as parsers
from migfleet.mig.state import ComputeInstance, GpuInstance, GpuProcess, GpuState

SNAPSHOT_TOKEN = "@@gpusim-snapshot"
HOST_TOKEN = "@@gpusim-host"


def gpu(index: int, model: str, uuid: str, mig: bool = False, pending: bool | None = None) -> GpuState:
    return GpuState(index=index, uuid=uuid, name=model, pci_bus_id=f"00000000:{index + 6:02X}:00.0",
                    mig_current=mig, mig_pending=mig if pending is None else pending)


def with_instances(state: GpuState, *placements: tuple[str, int]) -> GpuState:
    """GPU instances (profile name, start), each with its full-size compute instance."""
    geo = catalog.lookup(state.name)
    gis, cis = [], []
    for n, (name, start) in enumerate(placements, start=1):
        prof = geo.profile(name)
        size = dict(prof.placements)[start]
        gis.append(GpuInstance(n, prof.id, prof.name, start, size))
        cis.append(ComputeInstance(n, 0, default_ci(prof), prof.name, 0, prof.slices))
    return replace(state, mig_current=True, mig_pending=True, gpu_instances=tuple(gis),
                   compute_instances=tuple(cis))


def with_process(state: GpuState, pid: int, name: str, gi_id: int | None = None) -> GpuState:
    return replace(state, processes=state.processes + (GpuProcess(pid, name, gi_id, 0 if gi_id else None),))


class GpuSim:
    """MIG mode as NVIDIA's guide describes it: Ampere applies `-mig` at the next reset; Hopper and
    later at once on an idle GPU (pending_until_reset: as on a GPU the driver could not switch then)."""

    def __init__(self, *gpus: GpuState, reset_refused: bool = False, pending_until_reset: bool = False):
        self.gpus = {g.uuid: g for g in gpus}
        self.reset_refused = reset_refused
        self.pending_until_reset = pending_until_reset
        self.executed: list[str] = []

    def _by_index(self, idx: int) -> GpuState:
        return next(g for g in self.gpus.values() if g.index == idx)

    def _put(self, g: GpuState) -> None:
        self.gpus[g.uuid] = g

    def run(self, command: str) -> tuple[bool, list[str], list[str]]:
        if parsers.SNAPSHOT_COMMAND in command:
            return True, [SNAPSHOT_TOKEN], []
        if "@@migfleet query" in command:       # the run's one host read (facts.host.HostState)
            return True, [HOST_TOKEN], []
        self.executed.append(command)
        if m := re.fullmatch(r"nvidia-smi -i (\d+) -mig ([01])", command):
            g = replace(self._by_index(int(m[1])), mig_pending=m[2] == "1")
            at_once = catalog.lookup(g.name).architecture != "Ampere" and not self.pending_until_reset
            if at_once and not g.processes and g.mig_current != g.mig_pending:
                g = replace(g, mig_current=g.mig_pending, gpu_instances=(), compute_instances=())
            self._put(g)
        elif m := re.fullmatch(r"nvidia-smi -i (\d+) --query-gpu=mig.mode.current,mig.mode.pending "
                               r"--format=csv,noheader", command):
            g = self._by_index(int(m[1]))
            return True, [", ".join("Enabled" if on else "Disabled" for on in (g.mig_current, g.mig_pending))], []
        elif m := re.fullmatch(r"nvidia-smi --gpu-reset -i (\d+)", command):
            g = self._by_index(int(m[1]))
            if self.reset_refused or g.processes:
                return False, [], ["Unable to reset this GPU because it's being used by some other process"]
            self._put(replace(g, mig_current=g.mig_pending, gpu_instances=(), compute_instances=()))
        elif m := re.fullmatch(r"nvidia-smi mig -i (\d+) -dci -gi (\d+) -ci (\d+)", command):
            g = self._by_index(int(m[1]))
            self._put(replace(g, compute_instances=tuple(
                c for c in g.compute_instances if (c.gi_id, c.ci_id) != (int(m[2]), int(m[3])))))
        elif m := re.fullmatch(r"nvidia-smi mig -i (\d+) -dgi -gi (\d+)", command):
            g = self._by_index(int(m[1]))
            self._put(replace(g, gpu_instances=tuple(x for x in g.gpu_instances if x.gi_id != int(m[2]))))
        elif m := re.fullmatch(r"nvidia-smi mig -i (\d+) -cgi (\S+)( -C)?", command):
            g = self._by_index(int(m[1]))
            assert g.mig_current, f"created on a GPU without MIG: {command}"
            geo = catalog.lookup(g.name)
            gis, cis = list(g.gpu_instances), list(g.compute_instances)
            for item in m[2].split(","):
                pid, start = (int(x) for x in item.split(":"))
                prof = geo.profile(pid)
                size = dict(prof.placements)[start]
                taken = {s for x in gis for s in range(x.start, x.start + x.size)}
                assert not taken & set(range(start, start + size)), f"overlap: {command}"
                gi_id = max([x.gi_id for x in gis], default=0) + 1
                gis.append(GpuInstance(gi_id, prof.id, prof.name, start, size))
                if m[3]:
                    cis.append(ComputeInstance(gi_id, 0, default_ci(prof), prof.name, 0, prof.slices))
            self._put(replace(g, gpu_instances=tuple(gis), compute_instances=tuple(cis)))
        elif re.fullmatch(r"nvidia-smi mig -i (\d+) -gi (\d+) -cci (\S+)", command):
            pass    # compute-instance detail is not modelled here
        return True, [], []


class SimConnector(FakeConnector):
    """@fake connector whose answers come from the host's GpuSim (`sim`, set by the test)."""

    def run_shell_command(self, command, print_output=False, print_input=False, **arguments):
        text = command if isinstance(command, str) else command.get_masked_value()
        ok, out, err = self.sim.run(text)
        lines = [OutputLine("stdout", x) for x in out] + [OutputLine("stderr", x) for x in err]
        return ok, CommandOutput(lines)
