"""Pure comparisons of a host's live state with what the inventory declares.

Used by the spec suite (migfleet/spec), `drift` and `export`. Every finding is a `Mismatch`
naming host, GPU (index and UUID) when there is one, the field, and expected vs found.
No I/O here: callers pass command output and parsed snapshots in.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field

from migfleet.mig import desired, placed
from migfleet.mig.placed import GpuLayout
from migfleet.mig.plan import LayoutError, target_layout
from migfleet.serving import triton
from migfleet.serving.endpoints import GRPC_CLUSTER, HTTP_CLUSTER, model_members, parse_clusters
from migfleet.serving.triton import Triton
from migfleet.serving.containers import LABEL_MIG_UUID, LABEL_ROLE, Container
from migfleet.mig.geometry import Geometry
from migfleet.mig.state import GpuState


@dataclass(frozen=True)
class Mismatch:
    host: str
    gpu_index: int | None
    gpu_uuid: str | None
    field: str
    expected: str
    found: str
    # PCI bus ID, in the words only: indexes may change across reboots, bus IDs do not
    gpu_bus_id: str | None = dataclass_field(default=None, compare=False)

    def __str__(self) -> str:
        ids = ", ".join(x for x in (self.gpu_bus_id, self.gpu_uuid) if x)
        gpu = f" GPU {self.gpu_index} ({ids})" if self.gpu_uuid else ""
        return f"{self.host}{gpu}: {self.field}: expected {self.expected}, found {self.found}"


def report(mismatches: Iterable[Mismatch]) -> str:
    return "\n".join(str(m) for m in mismatches)


# ---------------------------------------------------------------- MIG layout

def compare_gpu(host: str, gpu: GpuState, target: GpuLayout, geometry: Geometry | None) -> list[Mismatch]:
    """The GPU's live placed layout against the target, field by field (none exactly when equal)."""
    return [Mismatch(host, gpu.index, gpu.uuid, field, want, got, gpu.pci_bus_id)
            for field, want, got in placed.differences(target, placed.live(gpu), geometry)]


GeometryFor = Callable[[GpuState], "Geometry | None"]


def compare_host(host: str, live: Mapping[str, GpuState], rules: Sequence[Mapping],
                 geometry_for: GeometryFor) -> list[Mismatch]:
    """Every GPU a `mig_layout` rule selects against the planner's target for it: the same target
    and the same equality the deploy converges to."""
    try:
        wanted = desired.resolve(rules, live)
    except desired.RuleError as exc:
        return [Mismatch(host, None, None, "mig_layout", "rules that apply to this host", str(exc))]
    out = []
    for uuid, want in wanted.items():
        gpu = live[uuid]
        geometry = geometry_for(gpu)
        if want.mig_enabled and geometry is None:
            out.append(Mismatch(host, gpu.index, uuid, "geometry", f"a known MIG geometry for {gpu.name}",
                                "none (not in the catalog and not readable from the GPU)"))
            continue
        try:
            target = target_layout(gpu, want, geometry)
        except LayoutError as exc:
            out.append(Mismatch(host, gpu.index, uuid, "mig_layout", "a layout that fits", str(exc)))
            continue
        out += compare_gpu(host, gpu, target, geometry)
    return out


# ---------------------------------------------------------------- Triton containers

def expected_tritons(gpus: Mapping[str, GpuState], settings: Mapping, rules: Sequence[Mapping] = (),
                     every_model: Sequence[str] = ()) -> list[Triton]:
    """One Triton per MIG device of the live placed layouts, named and numbered by place, bound to
    the device now there, with the models the rules give it (else `every_model`)."""
    return triton.live_specs(gpus, settings, rules=rules, every_model=every_model)


def compare_tritons(host: str, expected: Sequence[Triton], containers: Sequence[Container],
                    role: str = triton.ROLE) -> list[Mismatch]:
    """One running container per MIG device, named for it, bound to its MIG UUID; no strays."""
    out = []
    by_name = {c.name: c for c in containers}
    for t in expected:
        def miss(field, want, got, t=t):
            out.append(Mismatch(host, t.place.gpu_index, t.place.gpu_uuid, field, want, got))
        c = by_name.get(t.name)
        if c is None:
            miss(f"Triton for {t.mig_uuid}", f"container {t.name}", "no such container")
            continue
        if c.status != "running":
            miss(f"container {t.name} state", "running", c.status)
        if c.env.get("NVIDIA_VISIBLE_DEVICES") != t.mig_uuid:
            miss(f"container {t.name} NVIDIA_VISIBLE_DEVICES", t.mig_uuid,
                 c.env.get("NVIDIA_VISIBLE_DEVICES", "unset"))
        if c.labels.get(LABEL_MIG_UUID) != t.mig_uuid:
            miss(f"container {t.name} label {LABEL_MIG_UUID}", t.mig_uuid, c.labels.get(LABEL_MIG_UUID, "unset"))
        if c.network_mode != "host":
            miss(f"container {t.name} network", "host", c.network_mode or "unset")
    wanted = {t.name for t in expected}
    for c in containers:
        if c.labels.get(LABEL_ROLE) == role and c.name not in wanted:
            out.append(Mismatch(host, None, None, "Triton containers", "none besides one per MIG device",
                                f"{c.name} ({c.status}, {LABEL_MIG_UUID}={c.labels.get(LABEL_MIG_UUID, 'unset')})"))
    bound: dict[str, list[str]] = {}
    for c in containers:
        if c.labels.get(LABEL_ROLE) == role and c.status == "running":
            bound.setdefault(c.env.get("NVIDIA_VISIBLE_DEVICES", ""), []).append(c.name)
    for uuid, names in bound.items():
        if len(names) > 1:
            out.append(Mismatch(host, None, None, f"containers bound to {uuid}", "one", ", ".join(sorted(names))))
    return out


# ---------------------------------------------------------------- listening sockets

@dataclass(frozen=True)
class Listener:
    address: str        # "127.0.0.1", "0.0.0.0", "::", "10.250.0.11"
    port: int
    process: str        # ss's users:(...) text, "" without -p


_SS_LINE = re.compile(r"^LISTEN\s+\d+\s+\d+\s+(\S+):(\d+|\*)\s+\S+(?:\s+(.*))?$")


def parse_ss(text: str) -> list[Listener]:
    """`ss -ltnpH` (or with a header line) -> listeners."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("State"):
            continue
        m = _SS_LINE.match(line)
        if not m:
            raise ValueError(f"cannot parse ss output: unexpected line {line!r}")
        addr = m[1].strip("[]")
        addr = addr.split("%", 1)[0]            # "0.0.0.0%lo" -> bound to a device
        out.append(Listener(addr, int(m[2]) if m[2] != "*" else 0, m[3] or ""))
    return out


# gRPC binds 127.0.0.1 through a dual-stack socket, which ss shows as the v4-mapped address.
LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}
ANY = {"0.0.0.0", "*", "::"}


def check_loopback_only(host: str, listeners: Sequence[Listener], ports: Mapping[int, str]) -> list[Mismatch]:
    """Each port ({port: what}) is listened on, and only on loopback."""
    out = []
    for port, what in sorted(ports.items()):
        on = sorted({ln.address for ln in listeners if ln.port == port})
        if not on:
            out.append(Mismatch(host, None, None, f"{what} port {port}", "listening on 127.0.0.1", "not listening"))
        elif set(on) - LOOPBACK:
            out.append(Mismatch(host, None, None, f"{what} port {port}", "listening on 127.0.0.1 only",
                                "listening on " + ", ".join(on)))
    return out


def check_listening(host: str, listeners: Sequence[Listener], port: int, address: str, what: str
                    ) -> list[Mismatch]:
    """`port` reachable on `address` (a wildcard bind counts for any address)."""
    on = {ln.address for ln in listeners if ln.port == port}
    if address in on or (on & ANY) or (address in ANY and on):
        return []
    return [Mismatch(host, None, None, f"{what} port {port}", f"listening on {address}",
                     "listening on " + ", ".join(sorted(on)) if on else "not listening")]


# ---------------------------------------------------------------- Envoy admin

def parse_envoy_clusters(text: str) -> dict[tuple[str, str], str]:
    """Envoy admin `/clusters` (text form) -> {(cluster, "ip:port"): health_flags}."""
    return {k: s["health_flags"] for k, s in parse_clusters(text).items() if "health_flags" in s}


def check_envoy_backends(host: str, clusters_text: str,
                         expected: Mapping[str, Iterable[int] | Mapping[int, Triton]]) -> list[Mismatch]:
    """Each cluster ({name: backend ports}) has exactly those 127.0.0.1 backends, all healthy.

    Ports given as {port: Triton} name the Triton and its GPU in the findings.
    """
    health = parse_envoy_clusters(clusters_text)
    out = []
    for cluster, ports in sorted(expected.items()):
        owners = ports if isinstance(ports, Mapping) else {}
        want = {f"127.0.0.1:{p}": owners.get(p) for p in ports}
        have = {ep for c, ep in health if c == cluster}

        def miss(t, field, expect, found):
            out.append(Mismatch(host, t.place.gpu_index if t else None, t.place.gpu_uuid if t else None, field,
                                expect, found))
        for ep in sorted(set(want) - have):
            t = want[ep]
            miss(t, f"Envoy cluster {cluster}", f"backend {ep}" + (f" ({t.name})" if t else ""), "absent")
        for ep in sorted(have - set(want)):
            miss(None, f"Envoy cluster {cluster}", "no other backend", f"backend {ep}")
        for ep in sorted(set(want) & have):
            if health[(cluster, ep)] != "healthy":
                t = want[ep]
                miss(t, f"Envoy cluster {cluster} backend {ep}" + (f" ({t.name})" if t else ""), "healthy",
                     health[(cluster, ep)])
    return out


def compare_serving(host: str, expected: Sequence[Triton], containers: Sequence[Container],
                    clusters: tuple[int, str], admin: str) -> list[Mismatch]:
    """What the spec suite checks of serving, from one read: a Triton per MIG device, running and
    bound to it, and Envoy's two Triton clusters holding exactly those Tritons, each healthy.
    `clusters` is (exit code, text) of fetching Envoy's admin `/clusters` at `admin`."""
    found = compare_tritons(host, expected, containers)
    rc, text = clusters
    if rc != 0:
        return found + [Mismatch(host, None, None, "Envoy admin", f"answering at {admin}",
                                 f"no answer (exit code {rc}{': ' + text.strip()[:200] if text.strip() else ''})")]
    return found + check_envoy_backends(host, text, {
        HTTP_CLUSTER: {t.ports.http: t for t in expected}, GRPC_CLUSTER: {t.ports.grpc: t for t in expected},
        **model_members(expected)})


# ---------------------------------------------------------------- inference

def compare_inference(host: str, response_text: str, expected_outputs: Mapping[str, Sequence],
                      tolerance: float = 1e-6) -> list[Mismatch]:
    """A KServe v2 JSON response against {output name: flat expected data}."""
    try:
        response = json.loads(response_text)
        outputs = {o["name"]: o["data"] for o in response["outputs"]}
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        return [Mismatch(host, None, None, "inference response", "KServe v2 JSON with outputs",
                         f"{response_text[:300]!r} ({type(exc).__name__}: {exc})")]
    out = []
    for name, want in expected_outputs.items():
        got = outputs.get(name)
        if got is None:
            out.append(Mismatch(host, None, None, f"inference output {name}", "present",
                                f"absent (outputs: {sorted(outputs)})"))
        elif not _same(got, want, tolerance):
            out.append(Mismatch(host, None, None, f"inference output {name}", repr(list(want)), repr(got)))
    return out


def _same(got, want, tolerance: float) -> bool:
    if len(got) != len(want):
        return False
    for a, b in zip(got, want):
        if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
            if abs(a - b) > tolerance * max(1.0, abs(b)):
                return False
        elif a != b:
            return False
    return True


def known_pairs(readme_text: str) -> list[tuple[list[float], list[float]]]:
    """The ```known-pairs block of a model README: `in1 in2 ... -> out1 out2 ...` per line."""
    m = re.search(r"^```known-pairs\n(.*?)^```", readme_text, re.MULTILINE | re.DOTALL)
    if not m:
        raise ValueError("no known-pairs block (```known-pairs ... ```) in the model README")
    pairs = []
    for line in m[1].splitlines():
        if not line.strip():
            continue
        left, arrow, right = line.partition("->")
        try:
            if not arrow:
                raise ValueError
            pairs.append(([float(x) for x in left.split()], [float(x) for x in right.split()]))
        except ValueError:
            raise ValueError(f"cannot parse known pair {line.strip()!r} (want 'in ... -> out ...')") from None
    return pairs
