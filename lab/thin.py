"""The thin lab: many small hosts for measuring the deploy machine's side of a fleet.

    python -m lab up --hosts 200 --thin [--gpus H100]     # idempotent, like the suite lab's up
    python -m lab status --thin
    python -m lab ssh --thin thin-h7 -- nvidia-smi -L
    python -m lab down --thin

A thin host is a suite lab host (lab/host_boot.py: network namespace, systemd as PID 1 over an
overlay of this machine's root) with only systemd, journald, sshd and the simulated driver
(nvidia-smi, NVML, the nvsim boot unit): no Docker, containerd, dbus or logind, no Docker disk
image, no lab services. It serves the MIG part of migfleet (`mig_only: true`, inventories/thin.py),
`validate --live`, `plan`, drift and export.

It lives beside the suite lab, under its own names (lab/__init__.py reads MIGFLEET_LAB_THIN=1,
which `--thin` sets): prefix `mfthin`, bridge `mfthin0` at 10.251.0.1, hosts `thin-hN` at
10.251.0.(10+N), state in /var/lib/migfleet-thin (`MIGFLEET_THIN_DIR`), its own key, known_hosts,
ssh_config and inventory.json there, and its own lock. Neither lab's `up` or `down` touches the other.
"""
from __future__ import annotations

import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor

from . import BRIDGE, STATE_DIR, THIN, host_name
from . import host_boot, host_cgroup, host_fs, host_gpus, host_net
from . import hosts
from .host_run import LabError, quiet
from .host_state import LabState, exclusive

DEFAULT_GPUS = "H100"
PREPARE_WORKERS = 8
WAIT_WORKERS = 32


def _check() -> None:
    if not THIN:      # the names above are chosen at import: a plain `import lab` is the suite lab
        raise LabError("lab.thin needs MIGFLEET_LAB_THIN=1 in the environment (python -m lab ... --thin sets it)")


def _install(n: int, upper, models: list[str], nvml_lib) -> None:
    nvsim = hosts.optional("lab.nvsim.install")
    if nvsim is not None:
        nvsim.install(upper, host_name(n), models)
    if nvml_lib is not None:
        target = upper / hosts.NVML_IN_HOST
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(nvml_lib, target)


def up(count: int, gpu_spec: str | None = None) -> dict:
    _check()
    if not 1 <= count <= 200:
        raise LabError(f"--hosts must be 1..200, got {count}")
    with exclusive():
        return _up(count, gpu_spec)


def _up(count: int, gpu_spec: str | None) -> dict:
    t0 = time.monotonic()
    state = LabState.load()
    spec = gpu_spec or state.data.get("gpus") or DEFAULT_GPUS
    slots = host_gpus.parse_spec(spec)
    state.data.update(gpus=spec, bridge=BRIDGE, thin=True)
    state.save()
    hosts.raise_limits(state)
    pubkey = hosts.ensure_lab_key()
    host_net.ensure_bridge()

    for n in [m for m in state.host_numbers if m > count]:
        host_boot.power_off(n, state.running(n), graceful=False)
        shutil.rmtree(host_fs.host_dir(n), ignore_errors=True)
        state.forget(n)

    wanted = {n: host_gpus.models_for_host(slots, n) for n in range(1, count + 1)}
    to_boot = []
    for n, models in wanted.items():
        running = host_boot.is_running(state.running(n))
        if running and state.host(n).get("models") == models and host_fs.is_prepared(n):
            continue
        if running:
            host_boot.power_off(n, state.running(n))
            state.set_running(n, None)
        to_boot.append(n)
    nvml_lib = hosts._build_nvml() if to_boot else None

    def prepare_and_boot(n: int) -> None:
        fresh = not host_fs.is_prepared(n)
        upper = host_fs.prepare(n, pubkey)
        if fresh or state.host(n).get("models") != wanted[n]:
            _install(n, upper, wanted[n], nvml_lib)
            host_fs.mark_prepared(n)
        state.update(n, models=wanted[n])
        state.set_running(n, host_boot.boot(n, host_fs.host_dir(n)))

    t_prep = time.monotonic()
    with ThreadPoolExecutor(max_workers=PREPARE_WORKERS) as pool:
        list(pool.map(prepare_and_boot, to_boot))
    t_booted = time.monotonic()
    hosts.write_ssh_files(state.host_numbers)
    with ThreadPoolExecutor(max_workers=WAIT_WORKERS) as pool:
        list(pool.map(lambda n: host_boot.wait_ssh(n, state.running(n), hosts.BOOT_TIMEOUT,
                                                  host_fs.host_dir(n) / "boot.log"), to_boot))
        t_ssh = time.monotonic()
        states = list(pool.map(lambda n: hosts.wait_system_running(n, hosts.BOOT_TIMEOUT), to_boot))
    t_ready = time.monotonic()
    degraded = [host_name(n) for n, s in zip(to_boot, states) if s != "running"]
    if degraded:
        hosts.log(f"degraded (a unit failed; see `systemctl --failed` there): {', '.join(degraded)}")
    inventory = hosts.write_inventory(state)
    hosts.log(f"{count} thin host(s) up ({len(to_boot)} booted): prepare+start {t_booted - t_prep:.1f} s, "
              f"ssh {t_ssh - t_prep:.1f} s, systemd ready {t_ready - t_prep:.1f} s, "
              f"total {time.monotonic() - t0:.1f} s")
    return inventory


def down() -> dict:
    _check()
    with exclusive():
        return _down()


def _down() -> dict:
    """As the suite lab's down, without the lab services (the thin lab has none)."""
    t0 = time.monotonic()
    state = LabState.load()
    for n in state.host_numbers:
        r = state.running(n)
        if host_boot.is_running(r):
            os.kill(r.pid, 9)
    left = host_cgroup.kill_all()
    for ns in host_net.lab_netns():
        for pid in host_net.netns_pids(ns):
            quiet(["kill", "-9", str(pid)])
    host_net.delete_all()
    for target in reversed(hosts._lab_mounts()):
        quiet(["umount", "-l", target])
    stuck = host_cgroup.remove()
    hosts.restore_limits(state)
    for entry in hosts._own_state():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
    if STATE_DIR.exists() and not any(STATE_DIR.iterdir()):
        STATE_DIR.rmdir()
    leftovers = {"processes": sorted(left | host_cgroup.pids()), "cgroups": [str(p) for p in stuck],
                 "netns": host_net.lab_netns(), "links": host_net.lab_links(), "mounts": hosts._lab_mounts()}
    leftovers = {k: v for k, v in leftovers.items() if v}
    hosts.log(f"thin lab down in {time.monotonic() - t0:.1f} s" + (f"; LEFT BEHIND: {leftovers}" if leftovers else ""))
    return leftovers
