"""What every deploy of a run shares for one host: its settings, its one host read, its MIG plans.

Computed once per host per run (at prepare time) and handed to the operations as values, so
`--dry` shows exactly what will run, and a converged host costs one round trip.
"""
from __future__ import annotations

import dataclasses
import functools
import weakref
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from pyinfra import host, logger

from migfleet import schema_defaults
from migfleet.deploys import failures
from migfleet.facts import host as host_fact
from migfleet.facts import lock as host_lock
from migfleet.facts import noop_digest, view_cache
from migfleet.facts import preflight
from migfleet.facts.mig import MigGeometry
from migfleet.inventory import paths
from migfleet.mig import boot, catalog
from migfleet.mig.desired import DesiredGpu, RuleError, resolve
from migfleet.mig.geometry import Geometry
from migfleet.mig.plan import GpuPlan, LayoutError, Policy, plan_gpu
from migfleet.operations import files as file_ops
from migfleet.operations import lock as lock_ops
from migfleet.serving import endpoints, envoy, rotation, triton
from migfleet.serving.settings import resolve as serving_settings

PACKAGE = Path(__file__).resolve().parents[1]
LIB_DIR = noop_digest.LIB_DIR          # migfleet's host-side code (boot replay, re-bind, the read's short answer)
UNITS = ("migfleet-mig.service", "migfleet-tritons.service")
HOST_PACKAGES = ("python3", "curl", "gnupg", "ca-certificates")     # what the toolkit deploy installs first
# The stdlib-only modules the host runs (python3 -m migfleet.mig.boot / migfleet.serving.rebind /
# migfleet.facts.noop_digest).
HOST_CODE = ("__init__.py", "sections.py", "mig/**/*.py", "mig/catalog.json", "serving/__init__.py",
             "bytecode.py", "facts/__init__.py", "facts/read.py", "facts/lock.py", "facts/trees.py",
             "facts/noop_digest.py",
             "serving/containers.py", "serving/triton.py", "serving/models.py", "serving/endpoints.py",
             "serving/rebind.py", "serving/rotation.py", "serving/moves.py",
             "measure/__init__.py", "measure/host.py", "measure/perf.py")    # migfleet measure's host side
# Services that hold GPUs open (a reset or MIG mode change is refused while they run): mig-parted's
# hooks and the GPU operator stop the same ones.
GPU_HOLDERS = ("nvidia-persistenced.service", "nvidia-dcgm.service", "nv-hostengine.service",
               "dcgm-exporter.service", "nvsm.service", "nvidia-fabricmanager.service")
NEEDS_FREE_GPU = {"reset_gpu", "enable_mig", "disable_mig"}
# Left by a `migfleet measure` run that was stopped: the deploy restores the layout and Tritons as
# always, then puts the host back in its load balancer and clears it (deploys.triton).
MEASURE_MARKER = "/etc/migfleet/measure.json"
ENVOY_FILES = (envoy.BOOTSTRAP, envoy.CDS, endpoints.LDS_TEMPLATE, endpoints.LDS,
               endpoints.eds_file(endpoints.HTTP_CLUSTER), endpoints.eds_file(endpoints.GRPC_CLUSTER))


class HostMigError(Exception):
    """Why this host's MIG layout cannot be planned; the host fails, untouched."""


class HostLacks(HostMigError):
    """The host lacks prerequisites (`lines`: one per lack, with its fix); it fails untouched. The
    MIG plans (`work`, None where they could not be made) are still shown."""

    def __init__(self, lines: list[str], work: dict | None):
        super().__init__("; ".join(lines))
        self.lines, self.work = lines, work


def once_per_host(fn):
    """fn() computed once per pyinfra run and host, at prepare time; every later call (the other
    deploys, the operations' execute-time passes) gets the same value, or the same HostMigError."""
    runs: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()     # pyinfra State -> {host: result}

    @functools.wraps(fn)
    def cached():
        failures.watch(host.state)      # if pyinfra stops the run, it ends saying which hosts failed and why
        run = runs.setdefault(host.state, {})
        if host.name not in run:
            try:
                run[host.name] = (fn(), None)
            except HostMigError as e:
                run[host.name] = (None, e)
        value, error = run[host.name]
        if error is not None:
            raise error
        return value
    return cached


@once_per_host
def settings() -> dict:
    return serving_settings(host.data)


class _Unchanged:
    """What a skipped operation returns: it changes nothing."""
    will_change = False

    @staticmethod
    def did_change() -> bool:
        return False


def queue(op, **kwargs):
    """Queue `op` only where it would change something.

    Its body decides from values already read, so it is run once here (pyinfra runs it again if it
    is queued); with nothing to yield it is not queued at all, and its no-op message is logged.
    Every operation queued costs pyinfra a walk of the Python call stack (several per host and
    run), the main local cost of a converged run.
    """
    body = {k: v for k, v in kwargs.items() if k != "name" and not k.startswith("_")}
    if next(iter(op._inner(**body)), None) is None:
        return _Unchanged()
    _lock_changing()        # queued here, so it runs before this host's first change
    return op(**kwargs)


# pyinfra State -> hosts whose lock this run marked as changing
_changing: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _own_lock() -> int | None:
    """The PID holding this run's lock on this host (the read took it), else None (--dry, no lock)."""
    state = view().lock if not dry_run() else None
    if state is None or state.state not in ("taken", "took-over", "ours") or state.me is None:
        return None
    return state.me.pid


def _lock_changing() -> None:
    """Before this run's first change on the host: its lock says the host is being changed."""
    marked = _changing.setdefault(host.state, set())
    if host.name in marked:
        return
    marked.add(host.name)
    pid = _own_lock()
    if pid is not None:
        lock_ops.changing(name="Host lock: changing", pid=pid)


def release_lock() -> None:
    """After this run's last change on the host: its lock goes (a run that changed nothing leaves its
    lock to end with its connection)."""
    pid = _own_lock() if host.name in _changing.get(host.state, ()) else None
    if pid is not None:
        lock_ops.released(name="Host lock: released", pid=pid)


def fail_host(message: str) -> None:
    """Fail this host at prepare time, saying why: nothing queued for it runs, other hosts go on. The
    last host to fail ends the run with every failed host and why (deploys.failures)."""
    from pyinfra.context import ctx_host
    host.log_styled(message, fg="red", log_func=logger.error)
    failures.fail(host.state, ctx_host.get(), message)       # the Host itself, not the context proxy


def queue_tree(name: str, remote_dir: str, files, setting: str | None = None) -> bool:
    """Queue a tree sync (operations.files.tree) decided from this run's read of that tree; a sync that
    changes something also logs the files migfleet did not write that it leaves alone. A sync that
    would overwrite a file migfleet did not write (with other content) fails the host instead, naming
    the files; `setting` names the data key that chose the folder. Returns whether the host goes on."""
    now = view().trees.get(remote_dir)
    plan = file_ops.plan_tree(remote_dir, files, now)
    if plan.replaced:
        shown = ", ".join(plan.replaced[:file_ops.LEFT_ALONE_SHOWN])
        more = f" and {len(plan.replaced) - file_ops.LEFT_ALONE_SHOWN} more" \
            if len(plan.replaced) > file_ops.LEFT_ALONE_SHOWN else ""
        fail_host(f"{remote_dir}: {len(plan.replaced)} file(s) that migfleet did not write would be overwritten by "
                  f"{name.lower()}: {shown}{more}. migfleet never overwrites what it did not put there: move them "
                  "away" + (f", or set {setting} to a folder of migfleet's own" if setting else "")
                  + "; nothing was changed on this host")
        return False
    for note in plan.notes():
        host.log(note)
    queue(file_ops.tree, name=name, remote_dir=remote_dir, files=files, now=now)
    return True


@lru_cache(maxsize=1)
def pyinfra_arguments() -> dict:
    """The running `pyinfra` command's arguments, parsed by pyinfra's own command line parser; {} under
    pyinfra's API. (pyinfra runs deploy code in greenlets, which do not see click's context.)"""
    import sys
    program = Path(sys.argv[0]).name if sys.argv else ""
    if program not in ("pyinfra", "__main__.py"):
        return {}
    from pyinfra_cli.cli import cli
    try:
        return dict(cli.make_context("pyinfra", sys.argv[1:], resilient_parsing=True).params)
    except Exception:       # not pyinfra's command line after all (another program's __main__.py)
        return {}


def inventory_folder() -> Path:
    """The folder relative local paths of the inventory data resolve against: the inventory file's,
    as given to the running pyinfra command (the working directory under pyinfra's API or with a
    host list such as @local)."""
    inventory = pyinfra_arguments().get("inventory")
    return paths.inventory_folder(inventory if isinstance(inventory, str) else None)


def mig_setting(key: str):
    """A mig_* setting: the host's value, else the schema's default (the one place defaults live)."""
    return host.data.get(key, schema_defaults.defaults("mig").get(key))


@lru_cache(maxsize=1)
def host_code() -> dict[str, bytes]:
    files = {}
    for pattern in HOST_CODE:
        for path in sorted(PACKAGE.glob(pattern)):
            files[f"migfleet/{path.relative_to(PACKAGE)}"] = path.read_bytes()
    return files


@once_per_host
def view() -> host_fact.HostView:
    """The run's one read of this host (short where the host has not changed: facts.noop_digest)."""
    services = tuple(dict.fromkeys((*GPU_HOLDERS, *(mig_setting("mig_reset_services") or ()))))
    lock = host_lock.command(controller(), take=not dry_run())
    if mig_setting("mig_only"):     # the MIG part's files, tree and unit only: no serving file, package or image
        return _read(lock, files=(boot.RECORD_PATH, f"/etc/systemd/system/{UNITS[0]}"), trees=(LIB_DIR,),
                     units=UNITS[:1], services=services)
    s = settings()
    return _read(
        lock,
        files=(boot.RECORD_PATH, *(f"/etc/systemd/system/{u}" for u in UNITS), rotation.HOST_CONFIG, MEASURE_MARKER,
               *(envoy_path(n) for n in ENVOY_FILES),
               s["toolkit_keyring"], "/etc/apt/sources.list.d/nvidia-container-toolkit.list"),
        trees=(LIB_DIR, s["triton_model_dir"], triton.RUN_DIR),
        units=(*UNITS, s["docker_service"]),
        packages=(*HOST_PACKAGES, s["docker_package"], s["toolkit_package"]),
        images=(s["triton_image"], s["envoy_image"]),
        daemon_json=s["docker_daemon_config"],
        services=services)


def _read(lock: str, **read) -> host_fact.HostView | None:
    """The host read, sent with the digest of this host's last full read where one is kept: a host
    that answers "unchanged" gets the view kept, with the lock as read now; a full read is kept."""
    key = view_cache.read_key(host_fact.host_command(**read))
    kept = view_cache.load("deploy", host.name, key)
    got = host.get_fact(host_fact.HostState, **read, lock=lock, expect=kept.digest if kept else "", lib_dir=LIB_DIR)
    if isinstance(got, noop_digest.Unchanged):
        if kept is None or got.digest != kept.digest:
            raise HostMigError(f"the host answered unchanged {got.digest}, a digest this run did not send")
        return dataclasses.replace(kept.value, lock=got.lock)
    if got is not None:
        view_cache.save("deploy", host.name, key, view_cache.Kept(noop_digest.view_digest(got), got))
    return got


def dry_run() -> bool:
    """The running `pyinfra` command was given --dry; never under pyinfra's API."""
    return bool(pyinfra_arguments().get("dry"))


@lru_cache(maxsize=1)
def controller() -> str:
    """Who runs this deploy, as the host lock names it: user@machine."""
    import getpass
    import socket
    try:
        user = getpass.getuser()
    except (KeyError, OSError):         # no login name and no passwd entry
        user = "unknown"
    return host_lock.controller_name(user, socket.gethostname())


def _check_lock(v: host_fact.HostView | None) -> None:
    """A host another deploy holds fails at once, untouched; a stale lock taken over is logged, and
    --dry warns of a deploy holding the host."""
    state = v.lock if v is not None else None
    message = state.message() if state is not None else None
    if state is None or message is None:
        return
    if state.refuses:
        raise HostMigError(message)
    if state.state == "took-over":
        host.log(message)
    else:
        host.log_styled(message, fg="yellow", log_func=logger.warning)


@dataclass(frozen=True)
class GpuWork:
    plan: GpuPlan
    desired: DesiredGpu
    geometry: Geometry
    policy: Policy


@dataclass(frozen=True)
class HostMig:
    work: dict[str, GpuWork]        # GPU uuid -> its plan
    stop: tuple[str, ...]           # services holding the GPUs, stopped for this run's resets


@once_per_host
def mig_plans() -> HostMig:
    """Every selected GPU's plan, and the services to stop for them; raises HostMigError, or
    HostLacks (every lack, a planning error among them, and the plans made) before any change."""
    v = view()
    _check_lock(v)
    lines = lacks(v)
    if not lines:
        work = _plan_all(v)
        return HostMig(work, _holders(v, work))
    work = None
    try:
        work = _plan_all(v)
        _holders(v, work)
    except HostMigError as e:
        lines.append(str(e))
    raise HostLacks(lines, work)


def lacks(v: host_fact.HostView | None) -> list[str]:
    """What the host lacks before migfleet may change it (migfleet.facts.preflight)."""
    if v is None:       # the read failed; _plan_all says so
        return []
    if mig_setting("mig_only"):     # no toolkit, Docker or Tritons asked of the host
        return preflight.problems(v, serving=False)
    s = settings()
    return preflight.problems(v, packages=(*HOST_PACKAGES, s["toolkit_package"]), docker_package=s["docker_package"],
                              docker_service=s["docker_service"])


def mig_work() -> dict[str, GpuWork]:
    return mig_plans().work


def services_to_stop() -> tuple[str, ...]:
    """Services holding the GPUs that migfleet stops before this run's resets, and starts after."""
    return mig_plans().stop


def _plan_all(v: host_fact.HostView | None) -> dict[str, GpuWork]:
    if v is None:       # pyinfra logged why the read failed and failed the host
        raise HostMigError("MIG: the host could not be read (see the error above)")
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


def _holders(v: host_fact.HostView, work: dict[str, GpuWork]) -> tuple[str, ...]:
    """A reset or MIG mode change needs the GPUs free: services migfleet may stop are stopped (and
    started again after); anything else holding them fails the host before any change, saying how."""
    needing = [w.plan.gpu for w in work.values()
               if not w.plan.blocked and any(a.kind in NEEDS_FREE_GPU for a in w.plan.actions)]
    if not needing:
        return ()
    allowed = set(mig_setting("mig_reset_services") or ())
    holding = [u for u in dict.fromkeys((*GPU_HOLDERS, *allowed)) if v.active.get(u) == "active"]
    problems = []
    refused = [u for u in holding if u not in allowed]
    if refused:
        problems.append(f"{', '.join(refused)} {'holds' if len(refused) == 1 else 'hold'} the GPUs and "
                        "mig_reset_services does not let migfleet stop it: stop it yourself until the change is "
                        "done, or add it to mig_reset_services")
    if "nvidia_drm" in v.modules:
        problems.append("kernel module nvidia_drm is loaded and holds every GPU: unload it (`modprobe -r "
                        "nvidia_drm`; stop the display manager that loads it, and blacklist it on GPU servers)")
    if problems:
        gpus = ", ".join(f"GPU {g.index} ({g.name}, {g.pci_bus_id})" for g in needing)
        raise HostMigError(f"MIG: {gpus} need a GPU reset or MIG mode change, which is blocked: "
                           + "; ".join(problems) + ". Nothing was changed; re-run once that is done.")
    return tuple(holding)


def record() -> str:
    """The boot record: every planned GPU's target layout."""
    v, work = view(), mig_work()
    return boot.record_text({u: boot.RecordedGpu(u, v.gpus[u].index, v.gpus[u].name, w.plan.target)
                             for u, w in work.items()})


def envoy_path(name: str) -> str:
    return f"{settings()['envoy_config_dir'].rstrip('/')}/{name}"
