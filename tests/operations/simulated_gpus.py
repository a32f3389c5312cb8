"""pyinfra's @fake connector answered by the lab's simulated driver (lab/nvsim), for operation
tests: every nvidia-smi command form migfleet sends runs through the simulator's own state machine
(`smi.run_on`), and the snapshot fact is the simulator's output, parsed by migfleet's parser.
Every command run is recorded in `executed`.
"""
from __future__ import annotations

import re
import shlex

from pyinfra.connectors.fake import FakeConnector
from pyinfra.connectors.util import CommandOutput, OutputLine

from lab.nvsim import engine, smi as nvsim
from lab.nvsim import state as st
from migfleet import sections
from migfleet.mig import smi

HOST_TOKEN = "@@simulated-host"


def gpu(index: int, model: str, uuid: str, mig: bool = False, pending: bool | None = None) -> dict:
    """One simulated GPU (the simulator's own record of it)."""
    record = st.new_state("sim", [model], [uuid])["gpus"][0]
    record.update(index=index, pci_bus_id=f"00000000:{index + 6:02X}:00.0", mig_current=mig,
                  mig_pending=mig if pending is None else pending)
    return record


def with_instances(record: dict, *placements: tuple[str, int]) -> dict:
    """GPU instances (profile name, start), each with its full-size compute instance, made by the
    simulator's engine as `-cgi ... -C` makes them."""
    record.update(mig_current=True, mig_pending=True)
    for name, start in placements:
        gi = engine.create_gpu_instance(record, engine.geometry(record).profile(name), start)
        engine.create_compute_instance(record, gi, engine.ci_profile(record, gi, None))
    return record


def with_process(record: dict, pid: int, name: str, gi_id: int | None = None) -> dict:
    """A process using the GPU (in its GPU instance `gi_id`, as numbered by the driver)."""
    ci_id = 0 if gi_id is not None else None
    record.setdefault("_processes", []).append({"pid": pid, "name": name, "gpu_uuid": record["uuid"],
                                                "gi_id": gi_id, "ci_id": ci_id, "start_time": "0"})
    return record


class SimulatedGpus:
    """One host's GPUs in the simulator. `reset_refused`: the driver refuses every GPU reset;
    `pending_until_reset`: a MIG mode change stays pending until the next reset (as on a GPU the
    driver could not switch at once)."""

    def __init__(self, *gpus: dict, reset_refused: bool = False, pending_until_reset: bool = False):
        self.state = st.new_state("sim", [])
        for record in gpus:
            self.state["processes"] += record.pop("_processes", [])
            if reset_refused:
                record["reset_policy"] = "refuse"
            if pending_until_reset:
                record["mig_mode_at_reset"] = True
            self.state["gpus"].append(record)
        self.executed: list[str] = []

    @property
    def gpus(self) -> dict:
        """{uuid: GpuState}, as migfleet reads them from the simulator."""
        return smi.parse_snapshot(self.snapshot())

    def snapshot(self) -> str:
        out = []
        for name, command in smi.SNAPSHOT_SECTIONS:
            text, rc = nvsim.run_on(self.state, shlex.split(command)[1:])
            out += [f"{sections.MARK} {name}", text.rstrip("\n"), f"{sections.MARK} rc={rc}"]
        return "\n".join(out) + "\n"

    def run(self, command: str) -> tuple[bool, list[str], list[str]]:
        if command == smi.SNAPSHOT_COMMAND:
            return True, self.snapshot().splitlines(), []
        if "@@migfleet query" in command:       # the run's one host read (facts.host.HostState)
            return True, [HOST_TOKEN], []
        self.executed.append(command)
        if m := re.match(r"kill (\d+) ", command):      # mig.plan.STOP_COMMAND (mig_force)
            self.state["processes"] = [p for p in self.state["processes"] if p["pid"] != int(m[1])]
            return True, [], []
        if not command.startswith("nvidia-smi "):
            return True, [], []
        text, rc = nvsim.run_on(self.state, shlex.split(command)[1:])
        return (True, text.splitlines(), []) if rc == 0 else (False, [], text.splitlines())


class SimConnector(FakeConnector):
    """@fake connector whose answers come from the host's SimulatedGpus (`sim`, set by the test)."""

    def run_shell_command(self, command, print_output=False, print_input=False, **arguments):
        text = command if isinstance(command, str) else command.get_masked_value()
        ok, out, err = self.sim.run(text)
        lines = [OutputLine("stdout", x) for x in out] + [OutputLine("stderr", x) for x in err]
        return ok, CommandOutput(lines)
