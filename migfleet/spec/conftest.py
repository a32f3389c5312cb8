"""Spec suite: proves live hosts match the inventory. Runs only against real hosts.

    pytest migfleet/spec --inventory inventories/lab.py [--hosts-limit lab-h1,lab-h2]
    pytest migfleet/spec --hosts lab-h1,lab-h2 --ssh-config FILE     (no inventory: MIG tests skip)

Without --inventory or --hosts every test here is skipped, so the repository's plain `pytest`
(unit tests) passes without hosts. Hosts are reached with testinfra's paramiko backend through
an ssh_config written from the inventory's ssh_* data, host keys checked (never accepted blindly).
`@local` (or `--hosts local://`) is this machine: testinfra's local backend, no SSH.
Each test case records a `host` property (junit XML), which the rollout reads.
"""
from __future__ import annotations

import functools
import os
import shlex
import tempfile
from dataclasses import dataclass, field

import pytest
import testinfra.host
from testinfra.backend.local import LocalBackend
from testinfra.backend.paramiko import ParamikoBackend

from migfleet.fleet import local
from migfleet.fleet import ssh as fleet
from migfleet.mig import smi as parsers
from migfleet.serving import settings as serving_settings
from migfleet.mig.state import GpuState

INACTIVE = "no-hosts"


def pytest_addoption(parser):
    group = parser.getgroup("migfleet spec")
    group.addoption("--inventory", default=None, help="pyinfra inventory whose hosts are checked")
    group.addoption("--hosts-limit", default=None, help="comma-separated inventory host names to check")


def _opt(config, name):
    try:
        return config.getoption(name)
    except ValueError:          # option not registered (conftest loaded late): not given
        return None


class StrictParamikoBackend(ParamikoBackend):
    """testinfra's paramiko backend, connecting with known_hosts enforced (fleet.connect)."""

    def __init__(self, target: fleet.SshTarget, ssh_config: str):
        super().__init__(target.name, ssh_config=ssh_config)
        self.target = target

    @functools.cached_property
    def client(self):
        return fleet.connect(fleet.target_from_ssh_config(self.target.name, self.ssh_config))


@dataclass
class SpecHost:
    name: str
    data: dict | None           # merged inventory data; None with --hosts alone
    target: fleet.Target
    host: testinfra.host.Host
    _live: dict | None = field(default=None, repr=False)

    @property
    def settings(self) -> dict:
        return serving_settings.resolve(self.data or {})

    def run(self, command: str, timeout_s: int = 60):
        return self.host.run(f"timeout {timeout_s} sh -c {_quote(command)}")

    def check_output(self, command: str, timeout_s: int = 60) -> str:
        result = self.run(command, timeout_s)
        if result.rc != 0:
            pytest.fail(f"{self.name}: `{command[:200]}` exited {result.rc}: "
                        f"{(result.stderr or result.stdout).strip()[:500]}", pytrace=False)
        return result.stdout

    @property
    def live(self) -> dict[str, GpuState]:
        """The host's MIG snapshot (one round trip, read once per session)."""
        if self._live is None:
            out = self.check_output(parsers.SNAPSHOT_COMMAND, 120)
            try:
                self._live = parsers.parse_snapshot(out)
            except parsers.ParseError as exc:
                pytest.fail(f"{self.name}: {exc}", pytrace=False)
        return self._live


def _quote(s: str) -> str:
    return shlex.quote(s)


class Fleet:
    """The hosts selected on the command line, connected lazily, once per session."""

    def __init__(self, config, tmpdir: str):
        inventory, hosts_opt = _opt(config, "inventory"), _hosts_option_list(config)
        limit = [h for h in (_opt(config, "hosts_limit") or "").split(",") if h]
        self.hosts: dict[str, SpecHost] = {}
        if inventory:
            names = limit or [local.NAME if h == "local://" else h.split("://", 1)[-1] for h in (hosts_opt or [])]
            chosen = fleet.select(fleet.load_inventory(inventory), names or None)
            targets = {h.name: fleet.ssh_target(h) for h in chosen if not local.is_local(h.name)}
            ssh_config = os.path.join(tmpdir, "ssh_config")
            with open(ssh_config, "w") as fh:
                fh.write(fleet.ssh_config_text(list(targets.values())))
            for h in chosen:
                if local.is_local(h.name):
                    self._add_local(h.name, dict(h.data))
                else:
                    self._add(h.name, dict(h.data), targets[h.name], ssh_config)
        elif hosts_opt:
            ssh_config = _opt(config, "ssh_config") or os.path.expanduser("~/.ssh/config")
            for spec in hosts_opt:
                if spec in ("local://", local.NAME):
                    self._add_local(local.NAME, None)
                    continue
                name = spec.split("://", 1)[-1]
                self._add(name, None, fleet.target_from_ssh_config(name, ssh_config), ssh_config)

    def _add(self, name, data, target, ssh_config):
        backend = StrictParamikoBackend(target, ssh_config)
        self.hosts[name] = SpecHost(name, data, target, testinfra.host.Host(backend))

    def _add_local(self, name, data):
        """This machine: testinfra's local backend (`local://`), commands run here."""
        self.hosts[name] = SpecHost(name, data, local.LocalTarget(), testinfra.host.Host(LocalBackend()))

    @property
    def active(self) -> bool:
        return bool(self.hosts)


def _fleet(config) -> Fleet:
    if not hasattr(config, "_migfleet_spec_fleet"):
        tmpdir = tempfile.mkdtemp(prefix="migfleet-spec-")
        config._migfleet_spec_fleet = Fleet(config, tmpdir)
    return config._migfleet_spec_fleet


def _hosts_option_list(config) -> list[str]:
    """testinfra's --hosts (a comma-separated string)."""
    value = _opt(config, "hosts")
    if isinstance(value, str):
        return [h for h in value.split(",") if h]
    return list(value or [])


def pytest_generate_tests(metafunc):
    if "spec_host" not in metafunc.fixturenames:
        return
    names = list(_fleet(metafunc.config).hosts) or [INACTIVE]
    metafunc.parametrize("spec_host", names, indirect=True, ids=names)


@pytest.fixture
def spec_host(request, record_property) -> SpecHost:
    if request.param == INACTIVE:
        pytest.skip("spec suite checks live hosts: run with --inventory INVENTORY or --hosts HOSTS")
    if request.config.getini("junit_family") != "xunit2":     # xunit2 drops properties (and warns)
        record_property("host", request.param)
    return _fleet(request.config).hosts[request.param]


@pytest.fixture
def inventory_data(spec_host) -> dict:
    if spec_host.data is None:
        pytest.skip("no --inventory: the declared layout is unknown")
    return spec_host.data
