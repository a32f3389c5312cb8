"""Drift: hosts whose live MIG or serving state differs from the inventory, field by field.

One round trip per host (in parallel): the nvidia-smi snapshot, migfleet's containers and Envoy's
admin `/clusters`. The comparisons are the spec suite's own: spec_checks.compare_host (the layout
test) and spec_checks.compare_serving (its Triton and Envoy tests). Where a host's snapshot from an
earlier read is kept (facts.view_cache), the read asks the host to compare (facts.noop_digest): a
host whose GPUs read the same answers one line for the snapshot, and the rest as always.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from migfleet import sections
from migfleet.facts import noop_digest, view_cache
from migfleet.mig import catalog, smi
from migfleet.serving import settings as serving_settings
from migfleet.serving.envoy import ADMIN_ADDRESS
from migfleet.serving.containers import INSPECT_COMMAND, Container, ContainerParseError, parse_inspect
from migfleet.fleet import ssh as fleet
from migfleet.fleet import checks as spec_checks
from migfleet.mig.desired import parse_rules
from migfleet.mig.geometry import Geometry
from migfleet.fleet.checks import Mismatch
from migfleet.fleet.model_checks import compare_models, compare_settings
from migfleet.serving.triton import RUN_DIR, RUN_SUFFIX
from migfleet.mig.state import GpuState

Snapshot = dict[str, GpuState]


def short_read(name: str, command: str, names: Sequence[str], run_on_host, kind: str,
               timeout: float = 60.0) -> tuple[dict[str, tuple[int, str]], Snapshot]:
    """Runs the framed read `command` (sections `names`, the snapshot's among them) and parses it:
    (its sections, the snapshot). Where a snapshot of this host and read is kept, the host is asked
    to compare; an "unchanged" host sends the other sections only, and the kept snapshot is used.
    Raises FleetError naming the host, or the parsers' errors."""
    key = view_cache.read_key(command)
    kept = view_cache.load(kind, name, key)
    asked = command if kept is None else noop_digest.ask(command, noop_digest.SNAPSHOT, kept.digest,
                                                         noop_digest.LIB_DIR, {"sections": list(names)})
    rc, out, err = run_on_host(asked, timeout)
    if rc != 0:
        raise fleet.FleetError(f"{name}: {kind} read exited {rc}: {(err or out).strip()[:300]!r}")
    if out.startswith(noop_digest.UNCHANGED):
        try:
            digest, rest = noop_digest.split_unchanged(out)
        except ValueError as exc:
            raise fleet.FleetError(f"{name}: {exc}") from None
        if kept is None or digest != kept.digest:
            raise fleet.FleetError(f"{name}: the host answered unchanged {digest}, a digest this read did not send")
        return sections.split(rest, [n for n in names if n not in smi.NAMES]), kept.value
    sec = sections.split(out, names)
    gpus = smi.parse_sections(sec)
    view_cache.save(kind, name, key, view_cache.Kept(noop_digest.gpus_digest(gpus), gpus))
    return sec, gpus


def read_gpus(target: fleet.Target, timeout: float = 60.0) -> Snapshot:
    """The snapshot alone (what `validate --live` reads), short where the host's GPUs read as kept."""
    with fleet.session(target) as run_on_host:
        try:
            return short_read(target.name, smi.SNAPSHOT_COMMAND, smi.NAMES, run_on_host, "snapshot", timeout)[1]
        except (smi.ParseError, sections.SectionError) as exc:
            raise fleet.FleetError(f"{target.name}: {exc}") from None


def read_all(hosts: Sequence[fleet.FleetHost], read: Callable[[fleet.Target], Snapshot] = read_gpus,
             workers: int = 16) -> dict[str, Snapshot | Exception]:
    """{host: snapshot, or the error that prevented reading it}, in inventory order."""
    def one(host: fleet.FleetHost):
        try:
            return read(fleet.target_of(host))
        except (fleet.FleetError, OSError) as exc:
            return exc
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(hosts)))) as pool:
        results = list(pool.map(one, hosts))
    return {h.name: r for h, r in zip(hosts, results)}


def geometry_reader(host: fleet.FleetHost) -> Callable[[GpuState], Geometry | None]:
    """Catalog geometry, else read off the GPU on the host (once per model)."""
    cache: dict[str, Geometry | None] = {}

    def geometry_for(gpu: GpuState) -> Geometry | None:
        if gpu.name not in cache:
            known = catalog.lookup(gpu.name)
            if known is None:
                try:
                    known = fleet.read_geometry(fleet.target_of(host), gpu)
                except fleet.FleetError:
                    known = None
            cache[gpu.name] = known
        return cache[gpu.name]
    return geometry_for


@dataclass(frozen=True)
class LiveHost:
    """What drift compares, from one read of a host."""
    gpus: Snapshot
    containers: tuple[Container, ...]   # every container labelled migfleet.role
    clusters: tuple[int, str]           # (exit code, text) of Envoy's admin /clusters
    admin: str                          # where that was asked
    models: Mapping[str, str] = field(default_factory=dict)   # Triton name -> its /v2/repository/index


LIVE_SECTIONS = (*smi.NAMES, "containers", "clusters", "models")
# Each Triton of the run files, asked which models it has ready (its HTTP port from its run file).
MODELS_COMMAND = (f"for f in {RUN_DIR}/*{RUN_SUFFIX}; do [ -f \"$f\" ] || continue; "
                  "p=$(sed -n 's/^ *\"http_port\": *\\([0-9]*\\),*$/\\1/p' \"$f\"); "
                  "echo \"== $(basename \"$f\" .json)\"; curl -s -m 5 -X POST -d '{\"ready\":true}' "
                  "\"http://127.0.0.1:$p/v2/repository/index\"; echo; "
                  # and the live config of each model with Triton settings (the run file's "settings" keys)
                  "for m in $(sed -n 's/^  \"\\([A-Za-z0-9_.-]*\\)\": {$/\\1/p' \"$f\"); do "
                  "echo \"== $(basename \"$f\" .json) config $m\"; curl -s -m 5 \"http://127.0.0.1:$p/v2/models/$m/config\"; "
                  "echo; done; done; true")


def live_command(admin: str, serving: bool = True) -> str:
    """serving False (a mig_only host): the MIG sections, with no container and no Envoy asked."""
    return sections.frame({
        **smi.COMMANDS,
        "containers": f"command -v docker >/dev/null || {{ echo '[]'; exit 0; }}; {INSPECT_COMMAND}"
                      if serving else "echo '[]'",
        "clusters": f"curl -sfS -m 5 {admin}/clusters" if serving else "true",
        "models": MODELS_COMMAND if serving else "true",
    })


def admin_url(settings: Mapping) -> str:
    return f"http://{ADMIN_ADDRESS}:{settings['envoy_admin_port']}"


def parse_live(text: str, admin: str) -> LiveHost:
    """Output of live_command -> LiveHost (smi.ParseError, sections.SectionError or
    ContainerParseError quoting what was not expected)."""
    sec = sections.split(text, LIVE_SECTIONS)
    return _live(sec, smi.parse_sections(sec), admin)


def _live(sec: dict[str, tuple[int, str]], gpus: Snapshot, admin: str) -> LiveHost:
    rc, inspected = sec["containers"]
    if rc != 0:
        raise ContainerParseError(f"docker inspect exited {rc}: {inspected.strip()[:300]!r}")
    models = {chunk.partition("\n")[0].strip(): chunk.partition("\n")[2]
              for chunk in ("\n" + sec["models"][1]).split("\n== ")[1:]}
    return LiveHost(gpus, tuple(parse_inspect(inspected)), sec["clusters"], admin, models)


def read_live(host: fleet.FleetHost, timeout: float = 60.0) -> LiveHost:
    """One round trip to the host; FleetError naming it when it cannot be read."""
    try:
        admin = admin_url(serving_settings.resolve(host.data))
    except KeyError as exc:
        raise fleet.FleetError(f"{host.name}: {exc.args[0]}") from None
    target = fleet.target_of(host)
    try:
        with fleet.session(target) as run_on_host:
            sec, gpus = short_read(host.name, live_command(admin, serving=not host.data.get("mig_only")),
                                   LIVE_SECTIONS, run_on_host, "drift", timeout)
        return _live(sec, gpus, admin)
    except (smi.ParseError, smi.DriverUnavailable, sections.SectionError, ContainerParseError) as exc:
        raise fleet.FleetError(f"{host.name}: {exc}") from None


def read_fleet(hosts: Sequence[fleet.FleetHost], read: Callable[[fleet.FleetHost], LiveHost] = read_live,
               workers: int = 16) -> dict[str, LiveHost | Exception]:
    """{host: what drift compares, or the error that prevented reading it}, in inventory order."""
    def one(host: fleet.FleetHost):
        try:
            return read(host)
        except (fleet.FleetError, OSError) as exc:
            return exc
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(hosts)))) as pool:
        results = list(pool.map(one, hosts))
    return {h.name: r for h, r in zip(hosts, results)}


def host_drift(host: fleet.FleetHost, live: Snapshot,
               geometry_for: Callable[[GpuState], Geometry | None] | None = None, rules=None) -> list[Mismatch]:
    """MIG drift: each GPU's layout against the inventory's rules (`rules`: parsed once already)."""
    return spec_checks.compare_host(host.name, live, host.data.get("mig_layout") or [] if rules is None else rules,
                                    geometry_for or geometry_reader(host))


def serving_drift(host: fleet.FleetHost, live: LiveHost, rules=None) -> list[Mismatch]:
    """Serving drift: the Tritons the live layout calls for, and Envoy's endpoints (none on a mig_only host)."""
    if host.data.get("mig_only"):
        return []
    rules = host.data.get("mig_layout") or () if rules is None else rules
    expected = spec_checks.expected_tritons(live.gpus, serving_settings.resolve(host.data), rules)
    return (spec_checks.compare_serving(host.name, expected, live.containers, live.clusters, live.admin)
            + compare_models(host.name, [t for t in expected if t.models], live.models)
            + compare_settings(host.name, [t for t in expected if t.settings], live.models))


def all_drift(host: fleet.FleetHost, live: LiveHost,
              geometry_for: Callable[[GpuState], Geometry | None] | None = None) -> list[Mismatch]:
    """MIG drift, then serving drift: what `migfleet drift` lists."""
    rules = parse_rules(host.data.get("mig_layout") or [])     # once per host: MIG and serving read them
    return host_drift(host, live.gpus, geometry_for, rules) + serving_drift(host, live, rules)


def table(mismatches: Sequence[Mismatch]) -> str:
    """Aligned columns: host, GPU, UUID, field, expected, found."""
    rows = [("HOST", "GPU", "UUID", "FIELD", "EXPECTED", "FOUND")] + [
        (m.host, "-" if m.gpu_index is None else str(m.gpu_index), m.gpu_uuid or "-", m.field, m.expected, m.found)
        for m in mismatches]
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r[:5], widths)) + "  " + r[5] for r in rows) + "\n"
