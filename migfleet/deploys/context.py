"""What every deploy of a run shares for one host: its settings, its one host read, its MIG plans.

Computed once per host per run (at prepare time) and handed to the operations as values, so
`--dry` shows exactly what will run, and a converged host costs one round trip.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from pyinfra import host

from migfleet.facts import host as host_fact
from migfleet.facts.mig import MigGeometry
from migfleet.mig import boot, catalog, placed
from migfleet.mig.desired import DesiredGpu, RuleError, resolve
from migfleet.mig.geometry import Geometry
from migfleet.mig.plan import GpuPlan, LayoutError, Policy, plan_gpu
from migfleet.serving import envoy, triton
from migfleet.serving.settings import resolve as serving_settings

PACKAGE = Path(__file__).resolve().parents[1]
LIB_DIR = "/usr/local/lib/migfleet"          # migfleet's host-side code (boot replay, re-bind)
UNITS = ("migfleet-mig.service", "migfleet-tritons.service")
# The stdlib-only modules the host runs (python3 -m migfleet.mig.boot / migfleet.serving.rebind).
HOST_CODE = ("__init__.py", "sections.py", "mig/*.py", "mig/catalog.json", "serving/__init__.py",
             "serving/containers.py", "serving/triton.py", "serving/rebind.py")


def settings() -> dict:
    return serving_settings(host.data)


@lru_cache(maxsize=1)
def _mig_defaults() -> dict:
    schema = json.loads((PACKAGE / "schemas" / "mig.v1.json").read_text())
    return {k: v["default"] for k, v in schema["properties"].items() if "default" in v}


def mig_setting(key: str):
    """A mig_* setting: the host's value, else the schema's default (the one place defaults live)."""
    return host.data.get(key, _mig_defaults().get(key))


@lru_cache(maxsize=1)
def host_code() -> dict[str, bytes]:
    files = {}
    for pattern in HOST_CODE:
        for path in sorted(PACKAGE.glob(pattern)):
            files[f"migfleet/{path.relative_to(PACKAGE)}"] = path.read_bytes()
    return files


def view() -> host_fact.HostView:
    """The run's one read of this host."""
    s = settings()
    return host_fact.view(
        host,
        files=(boot.RECORD_PATH, *(f"/etc/systemd/system/{u}" for u in UNITS), envoy.config_path(s),
               s["toolkit_keyring"], "/etc/apt/sources.list.d/nvidia-container-toolkit.list"),
        trees=(LIB_DIR, s["triton_model_dir"], triton.RUN_DIR),
        units=(*UNITS, s["docker_service"]),
        packages=("python3", "curl", "gnupg", "ca-certificates", s["docker_package"], s["toolkit_package"]),
        images=(s["triton_image"], s["envoy_image"]),
        daemon_json=s["docker_daemon_config"])


@dataclass(frozen=True)
class GpuWork:
    plan: GpuPlan
    desired: DesiredGpu
    geometry: Geometry
    policy: Policy


class HostMigError(Exception):
    """Why this host's MIG layout cannot be planned; the host fails, untouched."""


_plans: dict[tuple[int, str], dict[str, GpuWork] | HostMigError] = {}


def mig_work() -> dict[str, GpuWork]:
    """Every selected GPU's plan (uuid -> GpuWork), planned once per run; raises HostMigError."""
    key = (id(host.state), host.name)
    if key not in _plans:
        try:
            _plans[key] = _plan_all()
        except HostMigError as e:
            _plans[key] = e
    if isinstance(_plans[key], HostMigError):
        raise _plans[key]
    return _plans[key]


def _plan_all() -> dict[str, GpuWork]:
    v = view()
    if v.driver_error:
        raise HostMigError(f"MIG: {v.driver_error}")
    if not v.gpus:
        raise HostMigError("MIG: nvidia-smi lists no GPU on this host")
    try:
        desired = resolve(mig_setting("mig_layout") or [], v.gpus)
    except RuleError as e:
        raise HostMigError(f"MIG: {e}") from None
    policy = Policy(reboot=mig_setting("mig_reboot_policy"), force=bool(mig_setting("mig_force")),
                    ignore_pids=v.own_pids)
    work = {}
    for uuid, want in desired.items():
        gpu = v.gpus[uuid]
        geometry = catalog.lookup(gpu.name) or host.get_fact(MigGeometry, gpu_index=gpu.index)
        if geometry is None:
            raise HostMigError(f"MIG: could not read the MIG geometry of GPU {gpu.index} ({gpu.name})")
        try:
            work[uuid] = GpuWork(plan_gpu(gpu, want, geometry, policy), want, geometry, policy)
        except LayoutError as e:
            raise HostMigError(f"MIG: {e.where}: {e.reason}" if e.where else f"MIG: {e.reason}") from None
    return work


def layouts_after() -> dict[str, tuple[int, placed.GpuLayout, Geometry | None]]:
    """Every GPU's layout once this run's MIG changes are made: the target where planned, the live
    layout where no rule selects the GPU (left alone)."""
    v, work = view(), mig_work()
    out = {}
    for uuid, gpu in v.gpus.items():
        if uuid in work:
            out[uuid] = (gpu.index, work[uuid].plan.target, work[uuid].geometry)
        else:
            out[uuid] = (gpu.index, placed.live(gpu), catalog.lookup(gpu.name))
    return out


def stable_devices() -> dict[str, str]:
    """{place key: MIG UUID} of the MIG devices this run's MIG changes leave in place."""
    v, work = view(), mig_work()
    out = {}
    for uuid, gpu in v.gpus.items():
        target = work[uuid].plan.target if uuid in work else placed.live(gpu)
        out.update(triton.stable_devices(gpu, target))
    return out


def record() -> str:
    """The boot record: every planned GPU's target layout."""
    v, work = view(), mig_work()
    return boot.record_text({u: boot.RecordedGpu(u, v.gpus[u].index, v.gpus[u].name, w.plan.target)
                             for u, w in work.items()})
