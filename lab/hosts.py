"""Lab lifecycle: up, down, status, reboot of the namespaced hosts, and the inventory hand-off."""
from __future__ import annotations

import importlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType

from . import (APT_REPO, BRIDGE, BRIDGE_IP, NAME_PREFIX, NET, PREFIX, REGISTRY, STATE_DIR, host_address,
               host_name, host_netns)
from . import host_boot, host_cgroup, host_fs, host_gpus, host_net
from .atomic import write_atomic
from .host_run import LabError, quiet, run
from .host_state import LabState, exclusive

LAB_KEY = STATE_DIR / "id_ed25519"
KNOWN_HOSTS = STATE_DIR / "known_hosts"
SSH_CONFIG = STATE_DIR / "ssh_config"
INVENTORY = STATE_DIR / "inventory.json"
NVML_DIR = STATE_DIR / "nvml"
NVML_IN_HOST = "usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1"
BOOT_TIMEOUT = 90.0


def log(msg: str) -> None:
    print(f"lab: {msg}", file=sys.stderr, flush=True)


_warned: set[str] = set()


def optional(module: str) -> ModuleType | None:
    """Lab parts built elsewhere (simulator, NVML shim, services): skipped with a warning if absent."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name and module.startswith(e.name):
            if module not in _warned:
                _warned.add(module)
                log(f"warning: {module} not available, skipping that step")
            return None
        raise


# ---------------------------------------------------------------- ssh hand-off

def ensure_lab_key() -> str:
    if not LAB_KEY.exists():
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "migfleet-lab", "-f", str(LAB_KEY)])
    return LAB_KEY.with_suffix(".pub").read_text().strip()


def write_ssh_files(numbers: list[int]) -> None:
    """known_hosts holds exactly the current hosts' keys (no stale entries), under name and address."""
    lines = [f"{host_name(n)},{host_address(n)} {host_fs.host_public_key(n).split(' ', 2)[0]} "
             f"{host_fs.host_public_key(n).split(' ', 2)[1]}" for n in numbers]
    write_atomic(KNOWN_HOSTS, "".join(line + "\n" for line in lines))
    blocks = [f"Host {host_name(n)}\n    HostName {host_address(n)}\n" for n in numbers]
    blocks.append(
        f"Host {NAME_PREFIX}* {NET}.*\n"
        f"    User root\n"
        f"    IdentityFile {LAB_KEY}\n"
        f"    IdentitiesOnly yes\n"
        f"    UserKnownHostsFile {KNOWN_HOSTS}\n"
        f"    GlobalKnownHostsFile /dev/null\n"
        f"    StrictHostKeyChecking yes\n"
        f"    CheckHostIP no\n"
        f"    ConnectTimeout 10\n"
        f"    LogLevel ERROR\n")
    write_atomic(SSH_CONFIG, "\n".join(blocks))


def write_inventory(state: LabState) -> dict:
    inventory = {
        "hosts": [{"name": host_name(n), "address": host_address(n), "gpu_models": state.host(n)["models"]}
                  for n in state.host_numbers],
        "ssh_user": "root",
        "ssh_key": str(LAB_KEY),
        "known_hosts": str(KNOWN_HOSTS),
        "ssh_config": str(SSH_CONFIG),
        "bridge_ip": BRIDGE_IP,
        "registry": REGISTRY,
        "apt_repo": APT_REPO,
    }
    write_atomic(INVENTORY, json.dumps(inventory, indent=2) + "\n")
    return inventory


def ssh_argv(n: int, command: list[str] | str, batch: bool = True) -> list[str]:
    argv = ["ssh", "-F", str(SSH_CONFIG)]
    if batch:
        argv += ["-o", "BatchMode=yes"]
    argv.append(host_name(n))
    argv += [command] if isinstance(command, str) else list(command)
    return argv


def wait_system_running(n: int, timeout: float) -> str:
    """Wait over SSH until host N's systemd finished booting; returns running/degraded."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        proc = subprocess.run(ssh_argv(n, "systemctl is-system-running --wait"), capture_output=True,
                              text=True, timeout=max(1.0, deadline - time.monotonic()))
        last = (proc.stdout.strip() or proc.stderr.strip())
        if last in ("running", "degraded"):
            return last
        time.sleep(0.2)
    raise LabError(f"{host_name(n)}: systemd did not finish booting in {timeout:.0f} s (last answer: {last!r})")


# ---------------------------------------------------------------- machine limits

# Per-user kernel limits shared by every host (all run as the machine's root): each systemd,
# logind and dockerd takes inotify instances; at the default 128, hosts past the tenth fail
# units with "Too many open files".
SYSCTL_MINIMUMS = {"fs/inotify/max_user_instances": 8192, "fs/inotify/max_user_watches": 1048576}


def raise_limits(state: LabState) -> None:
    saved = state.data.setdefault("sysctl", {})
    for key, minimum in SYSCTL_MINIMUMS.items():
        path = Path("/proc/sys") / key
        current = int(path.read_text())
        if current < minimum:
            saved.setdefault(key, current)
            state.save()           # before the change, so a crashed `up` can still be undone
            path.write_text(str(minimum))


def restore_limits(state: LabState) -> None:
    for key, original in state.data.get("sysctl", {}).items():
        (Path("/proc/sys") / key).write_text(str(original))


# ---------------------------------------------------------------- host disks

def _install_parts(n: int, upper: Path, models: list[str], nvml_lib: Path | None) -> None:
    nvsim = optional("lab.nvsim.install")
    if nvsim is not None:
        nvsim.install(upper, host_name(n), models)
    if nvml_lib is not None:
        target = upper / NVML_IN_HOST
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(nvml_lib, target)
    services = optional("lab.services")
    if services is not None:
        services.prepare_host(upper, BRIDGE_IP)


def host_files(n: int, common: dict[str, bytes]) -> dict[str, bytes]:
    """Files the lab keeps current in host N on every `up` (path without the leading / -> content)."""
    return {"etc/hosts": host_fs.hosts_file(n).encode(), **common}


def refresh_running(n: int, running, files: dict[str, bytes]) -> list[str]:
    """Write what differs of `files` into running host N through its own mount namespace (its upper
    dir must not change under the mounted overlay); returns the paths written."""
    stale = host_fs.stale_files(n, files)
    if not stale:
        return []
    spid = host_boot.systemd_pid(running)
    if spid is None:
        raise LabError(f"{host_name(n)}: no systemd found to refresh {', '.join(stale)} in")
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        for rel, data in stale.items():
            info = tarfile.TarInfo(rel)
            info.size, info.mode, info.mtime = len(data), 0o644, int(time.time())
            tar.addfile(info, io.BytesIO(data))
    proc = subprocess.run(["nsenter", "--target", str(spid), "--mount", "--root", "--wd",
                           "tar", "-xf", "-", "-C", "/"], input=archive.getvalue(), capture_output=True, timeout=60)
    if proc.returncode != 0:
        raise LabError(f"{host_name(n)}: writing {', '.join(stale)} failed: {proc.stderr.decode(errors='replace')}")
    log(f"{host_name(n)}: refreshed /{', /'.join(stale)}")
    return sorted(stale)


def _build_nvml() -> Path | None:
    nvml = optional("lab.nvml.build")
    if nvml is None:
        return None
    NVML_DIR.mkdir(parents=True, exist_ok=True)
    return Path(nvml.build(NVML_DIR))


# ---------------------------------------------------------------- lifecycle

def up(count: int, gpu_spec: str | None = None) -> dict:
    if not 1 <= count <= 200:
        raise LabError(f"--hosts must be 1..200, got {count}")
    with exclusive():
        return _up(count, gpu_spec)


def _up(count: int, gpu_spec: str | None) -> dict:
    t0 = time.monotonic()
    state = LabState.load()
    spec = gpu_spec or state.data.get("gpus") or host_gpus.DEFAULT_SPEC
    slots = host_gpus.parse_spec(spec)
    state.data["gpus"] = spec
    state.data["bridge"] = BRIDGE
    state.save()
    raise_limits(state)
    pubkey = ensure_lab_key()
    host_net.ensure_bridge()
    mirror = optional("lab.public_mirror")
    common_files = mirror.host_files(STATE_DIR) if mirror is not None else {}

    services_result: dict = {}
    services = optional("lab.services")
    services_thread = None
    if services is not None:
        def _services():
            try:
                services_result.update(services.ensure_up(BRIDGE_IP, STATE_DIR) or {})
                if mirror is not None:
                    services_result["public"] = mirror.ensure_up(STATE_DIR, services_result["registry"],
                                                                 services_result["images"])
            except Exception as e:          # reported after the hosts are up
                services_result["error"] = e
        services_thread = threading.Thread(target=_services, daemon=True)
        services_thread.start()

    for n in [m for m in state.host_numbers if m > count]:
        log(f"removing {host_name(n)}")
        host_boot.power_off(n, state.running(n), graceful=False)
        shutil.rmtree(host_fs.host_dir(n), ignore_errors=True)
        state.forget(n)

    wanted = {n: host_gpus.models_for_host(slots, n) for n in range(1, count + 1)}
    to_boot, kept = [], []
    for n, models in wanted.items():
        running = host_boot.is_running(state.running(n))
        if running and state.host(n).get("models") == models and host_fs.is_prepared(n):
            kept.append(n)
            continue
        if running:
            log(f"{host_name(n)}: GPU models change to {models}; powering it off")
            host_boot.power_off(n, state.running(n))
            state.set_running(n, None)
        to_boot.append(n)
    nvml_lib = _build_nvml() if any(not host_fs.is_prepared(n) or state.host(n).get("models") != wanted[n]
                                    for n in to_boot) else None

    def prepare_and_boot(n: int) -> None:
        h = state.host(n)
        fresh = not host_fs.is_prepared(n)
        upper = host_fs.prepare(n, pubkey)
        if fresh or h.get("models") != wanted[n]:
            _install_parts(n, upper, wanted[n], nvml_lib)
            host_fs.mark_prepared(n)
        host_fs.write_files(n, host_fs.stale_files(n, host_files(n, common_files)))
        state.update(n, models=wanted[n])
        state.set_running(n, host_boot.boot(n, host_fs.host_dir(n)))

    t_prep = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda n: refresh_running(n, state.running(n), host_files(n, common_files)), kept))
        list(pool.map(prepare_and_boot, to_boot))
    t_booted = time.monotonic()
    write_ssh_files(state.host_numbers)
    with ThreadPoolExecutor(max_workers=32) as pool:
        list(pool.map(lambda n: host_boot.wait_ssh(n, state.running(n), BOOT_TIMEOUT,
                                                  host_fs.host_dir(n) / "boot.log"), to_boot))
        t_ssh = time.monotonic()
        states = list(pool.map(lambda n: wait_system_running(n, BOOT_TIMEOUT), to_boot))
    t_ready = time.monotonic()
    degraded = [host_name(n) for n, s in zip(to_boot, states) if s != "running"]
    if degraded:
        log(f"degraded (a unit failed; see `systemctl --failed` there): {', '.join(degraded)}")
    if services_thread is not None:
        services_thread.join()
        if "error" in services_result:
            raise LabError(f"lab services failed: {services_result['error']}") from services_result["error"]
    inventory = write_inventory(state)
    prometheus = optional("lab.prometheus")
    if prometheus is not None:      # the lab Prometheus scrapes exactly the hosts now up
        prometheus.write_lab_targets(STATE_DIR, inventory)
    log(f"{count} host(s) up ({len(to_boot)} booted): prepare+start {t_booted - t_prep:.1f} s, "
        f"ssh {t_ssh - t_prep:.1f} s, systemd ready {t_ready - t_prep:.1f} s, total {time.monotonic() - t0:.1f} s")
    return inventory


def reboot(n: int, timeout: float = BOOT_TIMEOUT) -> float:
    """Power host N off through systemd and boot it again on the same disk; returns seconds taken."""
    with exclusive():
        state = LabState.load()
        if str(n) not in state.data["hosts"]:
            raise LabError(f"{host_name(n)} is not part of the lab (hosts: "
                           f"{', '.join(host_name(m) for m in state.host_numbers) or 'none'})")
        t0 = time.monotonic()
        host_boot.power_off(n, state.running(n), graceful=True)
        state.set_running(n, None)
        r = host_boot.boot(n, host_fs.host_dir(n))
        state.set_running(n, r)
        host_boot.wait_ssh(n, r, timeout, host_fs.host_dir(n) / "boot.log")
        wait_system_running(n, timeout)
        return time.monotonic() - t0


def status() -> dict:
    state = LabState.load()
    hosts = []
    for n in state.host_numbers:
        r = state.running(n)
        alive = host_boot.is_running(r)
        hosts.append({"name": host_name(n), "address": host_address(n), "netns": host_netns(n),
                      "running": alive, "pid": r.pid if alive else None,
                      "ssh": alive and host_boot.ssh_banner(n),
                      "gpu_models": state.host(n).get("models", [])})
    return {"state_dir": str(STATE_DIR), "bridge": host_net.link_exists(BRIDGE), "hosts": hosts,
            "inventory": str(INVENTORY) if INVENTORY.exists() else None}


def down() -> dict:
    with exclusive():
        return _down()


def _loop_devices() -> list[str]:
    """Loop devices backed by a file in the lab state dir (normally auto-cleared with the host)."""
    out = run(["losetup", "--list", "--noheadings", "--output", "NAME,BACK-FILE"], check=False).stdout
    return [line.split()[0] for line in out.splitlines()
            if len(line.split()) > 1 and line.split(None, 1)[1].strip().startswith(str(STATE_DIR))]


def _lab_mounts() -> list[str]:
    targets = []
    for line in Path("/proc/mounts").read_text().splitlines():
        target = line.split()[1].replace("\\040", " ")
        if target.startswith(str(STATE_DIR)) or target.startswith(f"/run/netns/{PREFIX}"):
            targets.append(target)
    return targets


def _own_state() -> list[Path]:
    """What `up` writes in the state dir; lab.services keeps its own files (and caches) there."""
    if not STATE_DIR.exists():
        return []
    # "bare": lab.bare's host (its processes, netns and link go with the sweeps by prefix above)
    names = ("hosts", "bare", "nvml", "lab.json", "lab.tmp", LAB_KEY.name, LAB_KEY.name + ".pub")
    own = [STATE_DIR / name for name in names]
    for path in (KNOWN_HOSTS, SSH_CONFIG, INVENTORY):
        own += [path, path.with_name(path.name + ".tmp")]
    return [p for p in own if p.exists() or p.is_symlink()]


def _down() -> dict:
    t0 = time.monotonic()
    state = LabState.load()
    for n in state.host_numbers:
        r = state.running(n)
        if host_boot.is_running(r):
            os.kill(r.pid, 9)
    left = host_cgroup.kill_all()
    phases = {"kill": time.monotonic() - t0}
    for ns in host_net.lab_netns():
        for pid in host_net.netns_pids(ns):
            quiet(["kill", "-9", str(pid)])
    for name in ("lab.public_mirror", "lab.services"):    # the mirror first: it serves from the registry's storage
        module = optional(name)
        if module is not None:
            try:
                module.down(STATE_DIR)
            except Exception as e:      # the hosts' own cleanup must still run
                log(f"warning: {name}.down failed: {e}")
    phases["services"] = time.monotonic() - t0
    host_net.delete_all()
    phases["net"] = time.monotonic() - t0
    for target in reversed(_lab_mounts()):
        quiet(["umount", "-l", target])
    deadline = time.monotonic() + 10
    while _loop_devices() and time.monotonic() < deadline:
        time.sleep(0.1)           # autoclear runs once the host's mount namespace is freed
    for dev in _loop_devices():
        quiet(["losetup", "-d", dev])
    phases["loops"] = time.monotonic() - t0
    stuck = host_cgroup.remove()
    restore_limits(state)
    for entry in _own_state():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
    if STATE_DIR.exists() and not any(STATE_DIR.iterdir()):
        STATE_DIR.rmdir()
    leftovers = {"processes": sorted(left | host_cgroup.pids()), "cgroups": [str(p) for p in stuck],
                 "netns": host_net.lab_netns(), "links": host_net.lab_links(), "mounts": _lab_mounts(),
                 "loop_devices": _loop_devices(), "state": [str(p) for p in _own_state()]}
    leftovers = {k: v for k, v in leftovers.items() if v}
    log(f"down in {time.monotonic() - t0:.1f} s ("
        + ", ".join(f"{k} {v:.1f}" for k, v in phases.items()) + ")" + (f"; LEFT BEHIND: {leftovers}" if leftovers else ""))
    return leftovers
