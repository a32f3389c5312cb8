"""A pyinfra inventory's hosts with their merged data, and strict SSH to them.

Used by the spec suite, export, drift and rollout: they read the same inventory as
`pyinfra INVENTORY deploy.py` (same group_data lookup: `./group_data` and the inventory's
own folder), and connect with the inventory's `ssh_*` data. Host keys are always checked
against the known_hosts file (`ssh_known_hosts_file`, else ~/.ssh/known_hosts); an unknown
or changed key refuses the connection. `@local` is this machine, as for pyinfra: its commands
run here (migfleet.fleet.local), through the same `session`.
"""
from __future__ import annotations

import os
import shlex
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import paramiko

from migfleet.fleet import local
from migfleet.fleet.local import LocalTarget
from migfleet.mig import smi as parsers
from migfleet.mig.state import GpuState


class FleetError(RuntimeError):
    """Inventory or connection problem; the message names the host."""


@dataclass(frozen=True)
class FleetHost:
    name: str
    data: dict          # merged data: host, its groups, group_data, as pyinfra sees it


def load_inventory(inventory: str) -> list[FleetHost]:
    """Hosts of a pyinfra inventory (file or comma list), in inventory order, data merged: the one
    inventory loader (migfleet.inventory.load_inventory_data), as the deploy reads it."""
    from migfleet.inventory import InventoryLoadError, load_inventory_data
    try:
        hosts = [FleetHost(name, dict(data)) for name, data in load_inventory_data(inventory).items()]
    except InventoryLoadError as e:
        raise FleetError(str(e)) from None
    if not hosts:
        raise FleetError(f"inventory {inventory!r} has no hosts")
    return hosts


def select(hosts: list[FleetHost], names: list[str] | None) -> list[FleetHost]:
    """Hosts whose names are listed (order of the inventory); unknown names are an error."""
    if not names:
        return hosts
    known = {h.name for h in hosts}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise FleetError(f"host(s) not in the inventory: {', '.join(unknown)}")
    wanted = set(names)
    return [h for h in hosts if h.name in wanted]


@dataclass(frozen=True)
class SshTarget:
    name: str               # inventory name (also the ssh_config Host alias)
    hostname: str
    port: int
    user: str | None
    key_file: str | None
    known_hosts: str


def ssh_target(host: FleetHost) -> SshTarget:
    d = host.data
    if d.get("ssh_strict_host_key_checking") not in (None, "yes", True):
        raise FleetError(f"{host.name}: ssh_strict_host_key_checking="
                         f"{d['ssh_strict_host_key_checking']!r}; host keys are always checked here")
    known = d.get("ssh_known_hosts_file") or "~/.ssh/known_hosts"
    key = d.get("ssh_key")
    return SshTarget(name=host.name, hostname=str(d.get("ssh_hostname") or host.name),
                     port=int(d.get("ssh_port") or 22), user=d.get("ssh_user"),
                     key_file=os.path.expanduser(key) if key else None,
                     known_hosts=os.path.expanduser(known))


Target = SshTarget | LocalTarget
# run(command, timeout) -> (exit code, stdout, stderr), on the host a session is open to
RunCommand = Callable[..., tuple[int, str, str]]


def target_of(host: FleetHost) -> Target:
    """Where the host's commands run: `@local` here, any other host over SSH."""
    return LocalTarget() if local.is_local(host.name) else ssh_target(host)


@contextmanager
def session(t: Target) -> Iterator[RunCommand]:
    """A command runner on the target: one SSH connection for the session, or this machine."""
    if isinstance(t, LocalTarget):
        yield local.run
        return
    client = connect(t)
    try:
        yield lambda command, timeout=60.0: run(client, command, timeout)
    finally:
        client.close()


def ssh_config_text(targets: list[SshTarget]) -> str:
    """An ssh_config (OpenSSH syntax) for the targets, host key checking on."""
    blocks = []
    for t in targets:
        lines = [f"Host {t.name}", f"    HostName {t.hostname}", f"    Port {t.port}",
                 f"    UserKnownHostsFile {t.known_hosts}", "    StrictHostKeyChecking yes"]
        if t.user:
            lines.append(f"    User {t.user}")
        if t.key_file:
            lines += [f"    IdentityFile {t.key_file}", "    IdentitiesOnly yes"]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def target_from_ssh_config(alias: str, config_path: str) -> SshTarget:
    """Read one Host entry back from an ssh_config (the spec suite's `--hosts` form)."""
    cfg = paramiko.SSHConfig.from_path(config_path).lookup(alias)
    if cfg.get("stricthostkeychecking", "yes") not in ("yes", "ask"):
        raise FleetError(f"{alias}: StrictHostKeyChecking {cfg['stricthostkeychecking']} in "
                         f"{config_path}; host keys are always checked here")
    known = (cfg.get("userknownhostsfile") or "~/.ssh/known_hosts").split()[0]
    keys = cfg.get("identityfile")
    return SshTarget(name=alias, hostname=cfg.get("hostname", alias), port=int(cfg.get("port", 22)),
                     user=cfg.get("user"), key_file=os.path.expanduser(keys[0]) if keys else None,
                     known_hosts=os.path.expanduser(known))


def connect(target: SshTarget, timeout: float = 10.0) -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    if not Path(target.known_hosts).is_file():
        raise FleetError(f"{target.name}: known_hosts file {target.known_hosts} missing; "
                         "refusing to connect without host key checking")
    client.load_host_keys(target.known_hosts)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    try:
        client.connect(target.hostname, port=target.port, username=target.user,
                       key_filename=target.key_file, timeout=timeout, banner_timeout=timeout,
                       auth_timeout=timeout, allow_agent=target.key_file is None,
                       look_for_keys=target.key_file is None)
    except (paramiko.SSHException, OSError, socket.timeout) as exc:
        client.close()
        raise FleetError(f"{target.name}: cannot connect to {target.hostname}:{target.port}: "
                         f"{type(exc).__name__}: {exc}") from None
    return client


def run(client: paramiko.SSHClient, command: str, timeout: float = 60.0) -> tuple[int, str, str]:
    """Run one command (through `sh -c`), return (exit code, stdout, stderr)."""
    _, stdout, stderr = client.exec_command(f"sh -c {shlex.quote(command)}", timeout=timeout)
    out = stdout.read().decode(errors="replace")
    err = stderr.read().decode(errors="replace")
    return stdout.channel.recv_exit_status(), out, err


def read_snapshot(target: Target, timeout: float = 60.0) -> dict[str, GpuState]:
    """One round trip: parsers.SNAPSHOT_COMMAND on the host, parsed."""
    with session(target) as run_on_host:
        rc, out, err = run_on_host(parsers.SNAPSHOT_COMMAND, timeout)
    if rc != 0:
        raise FleetError(f"{target.name}: snapshot command exited {rc}: {(err or out).strip()[:300]!r}")
    try:
        return parsers.parse_snapshot(out)
    except parsers.ParseError as exc:
        raise FleetError(f"{target.name}: {exc}") from None


def read_geometry(target: Target, gpu: GpuState, timeout: float = 60.0):
    """Geometry of a GPU model the catalog lacks, read off the GPU (`mig -lgip` / `-lgipp`)."""
    with session(target) as run_on_host:
        rc, out, err = run_on_host(parsers.geometry_command(gpu.index), timeout)
    try:
        return parsers.parse_geometry(out)
    except parsers.ParseError as exc:
        raise FleetError(f"{target.name} GPU {gpu.index}: {exc}") from None
