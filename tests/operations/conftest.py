"""pyinfra API-mode state over simulated GPUs: prepare (like --dry) and execute operations."""
from __future__ import annotations

import pytest
from pyinfra.api import Config, Inventory, State
from pyinfra.api.connect import connect_all
from pyinfra.api.exceptions import PyinfraError
from pyinfra.api.operations import run_ops
from pyinfra.api.state import StateStage

from migfleet.facts import host as host_fact
from tests.operations.simulated_gpus import HOST_TOKEN, SimConnector


@pytest.fixture
def sim_host_read(monkeypatch):
    """The run's one host read (facts.host.HostState) answered with the simulated GPUs as migfleet
    reads them (the rest of the host read is the facts' own tests'); the MIG snapshot is the
    simulator's own output, parsed by migfleet."""
    from pyinfra import context

    real_host = host_fact.parse_host

    def parse_host(text, *args):
        if text.strip() == HOST_TOKEN:
            return host_fact.HostView(gpus=context.host.connector.sim.gpus)
        return real_host(text, *args)

    monkeypatch.setattr(host_fact, "parse_host", parse_host)


class Fleet:
    """Hosts named h1.. each with its SimulatedGpus and host data; `prepare` then `execute`."""

    def __init__(self, hosts: dict[str, tuple], check_for_changes: bool = True):
        sims = {f"@fake/{name}": sim for name, (sim, _) in hosts.items()}
        names = [(f"@fake/{name}", {"fake_delay": 0, "fake_delay_jitter": 0, **data})
                 for name, (sim, data) in hosts.items()]
        self.inventory = Inventory((names, {}))
        self.state = State(self.inventory, Config(), check_for_changes=check_for_changes)
        self.state.print_noop_info = True
        for host in self.inventory:
            host.connector = SimConnector(self.state, host)
            host.connector.sim = sims[host.name]     # not host data: the inventory check would flag it
        connect_all(self.state)
        self.state.set_stage(StateStage.Prepare)

    def host(self, name: str):
        return self.inventory.get_host(f"@fake/{name}")

    def ops(self, name: str) -> list[str]:
        """Names of the operations queued for a host, in order."""
        host = self.host(name)
        return [next(iter(self.state.op_meta[h].names)) for h in self.state.get_op_order()
                if h in self.state.ops[host]]

    def changing_ops(self, name: str) -> list[str]:
        host = self.host(name)
        return [next(iter(self.state.op_meta[h].names)) for h in self.state.get_op_order()
                if h in self.state.ops[host] and self.state.ops[host][h].operation_meta._maybe_is_change]

    def execute(self):
        self.state.set_stage(StateStage.Execute)
        try:
            run_ops(self.state)
        except PyinfraError as e:          # the last active host failed
            if str(e) != "No hosts remaining!":
                raise

    @property
    def failed(self) -> set[str]:
        return {h.name.removeprefix("@fake/") for h in self.state.failed_hosts}
