"""Which Tritons Envoy sends requests to, kept on the host (standard library only).

Envoy reads its endpoints (EDS) and listeners (LDS) from files in its config directory and
reloads them when a file is moved into it, so a change of endpoints never restarts Envoy. This
module is the one writer of those files: it renders them from the Triton run files and the MIG
devices now present, writes each beside its target and renames it into place.

    python3 -m migfleet.serving.rotation sync                  endpoints = the running Tritons
    python3 -m migfleet.serving.rotation drain NAME,...        out of rotation, in-flight requests
                                                               finish (bounded), then stopped
    python3 -m migfleet.serving.rotation start [NAME,...]      started on the MIG device at their
                                                               place, ready, then into rotation
    python3 -m migfleet.serving.rotation roll NAME,...         replaced one at a time, each drained

Settings come from HOST_CONFIG, written by the deploy (so the boot unit needs no arguments).
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import time
import urllib.request

from migfleet.mig.boot import read_gpus
from migfleet.serving import rebind
from migfleet.serving.triton import RUN_DIR, RUN_SUFFIX, live_devices

HOST_CONFIG = "/etc/migfleet/rotation.json"
HTTP_CLUSTER, GRPC_CLUSTER = "triton_http", "triton_grpc"
LDS, LDS_TEMPLATE = "lds.json", "lds.template.json"
_CLA = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"


def eds_file(cluster: str) -> str:
    return f"eds-{cluster}.json"


def eds_docs(run_files: list[dict]) -> dict[str, str]:
    """{file name: EDS document} for both clusters, one endpoint per Triton in `run_files`."""
    out = {}
    for cluster, grpc in ((HTTP_CLUSTER, False), (GRPC_CLUSTER, True)):
        endpoints = []
        for rf in sorted(run_files, key=lambda r: r["name"]):
            ep = {"address": {"socket_address": {"address": "127.0.0.1",
                                                 "port_value": rf["grpc_port"] if grpc else rf["http_port"]}},
                  "hostname": rf["name"]}
            if grpc:        # gRPC endpoints are health-checked on their Triton's HTTP port
                ep["health_check_config"] = {"port_value": rf["http_port"]}
            endpoints.append({"endpoint": ep})
        doc = {"version_info": ",".join(sorted(r["name"] for r in run_files)) or "none",
               "resources": [{"@type": _CLA, "cluster_name": cluster, "endpoints": [{"lb_endpoints": endpoints}]}]}
        out[eds_file(cluster)] = json.dumps(doc, indent=1) + "\n"
    return out


def lds_doc(template: str, devices: dict[str, tuple[str, int]]) -> str:
    """The listeners, with each place's MIG UUID and GPU instance id filled in (they change
    whenever the instance is re-created; a place with no device says "none")."""
    text = template
    for key, (uuid, gi) in devices.items():
        text = text.replace(f"@MIG_UUID:{key}@", uuid).replace(f"@GI:{key}@", str(gi))
    while "@MIG_UUID:" in text or "@GI:" in text:
        at = min(i for i in (text.find("@MIG_UUID:"), text.find("@GI:")) if i >= 0)
        end = text.index("@", at + 1)
        text = text[:at] + "none" + text[end + 1:]
    return text


def write_atomic(directory: str, name: str, text: str) -> bool:
    """Write beside the target, then rename into the watched directory; False if unchanged."""
    path = os.path.join(directory, name)
    try:
        with open(path, encoding="utf-8") as fh:
            if fh.read() == text:
                return False
    except FileNotFoundError:
        pass
    staging = os.path.join(directory, ".staging")
    os.makedirs(staging, exist_ok=True)
    tmp = os.path.join(staging, name)
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)
    return True


class Host:
    """This host's run files, containers, MIG devices and Envoy, as settings say where."""

    def __init__(self, config: dict, say=print):
        self.envoy_dir = config["envoy_dir"]
        self.admin = f"http://127.0.0.1:{config['admin_port']}"
        self.run_dir = config.get("run_dir", RUN_DIR)
        self.drain_s = float(config.get("drain_seconds", 10))
        self.ready_s = float(config.get("ready_timeout", 120))
        self.say = say

    def run_files(self) -> list[dict]:
        out = []
        for path in sorted(glob.glob(f"{self.run_dir}/*{RUN_SUFFIX}")):
            with open(path, encoding="utf-8") as fh:
                out.append(json.load(fh))
        return out

    def running(self) -> set[str]:
        proc = subprocess.run(["docker", "ps", "--filter", "label=migfleet.role=triton", "--format", "{{.Names}}"],
                              capture_output=True, text=True)
        return set(proc.stdout.split())

    def sync(self, leaving: set[str] = frozenset(), gpus: dict | None = None) -> None:
        """Endpoints = running Tritons that have a run file, less `leaving`; listeners with live ids."""
        running = self.running()
        serving = [rf for rf in self.run_files() if rf["name"] in running and rf["name"] not in leaving]
        changed = [name for name, text in eds_docs(serving).items() if write_atomic(self.envoy_dir, name, text)]
        template = os.path.join(self.envoy_dir, LDS_TEMPLATE)
        if os.path.exists(template):
            devices = {}
            for uuid, gpu in (gpus if gpus is not None else read_gpus()).items():
                ids = {g.gi_id: g.start for g in gpu.gpu_instances}
                for (gi_start, ci_start), mig in live_devices(gpu).items():
                    gi_id = next(i for i, s in ids.items() if s == gi_start)
                    devices[f"{uuid}/{gi_start}/{ci_start}"] = (mig, gi_id)
            with open(template, encoding="utf-8") as fh:
                if write_atomic(self.envoy_dir, LDS, lds_doc(fh.read(), devices)):
                    changed.append(LDS)
        if changed:
            self.say(f"Envoy endpoints: {', '.join(sorted(r['name'] for r in serving)) or 'none'}")

    def active(self, names: set[str]) -> int:
        """Requests in flight to these Tritons, from Envoy's admin /clusters."""
        ports = {str(p) for rf in self.run_files() if rf["name"] in names for p in (rf["http_port"], rf["grpc_port"])}
        try:
            with urllib.request.urlopen(f"{self.admin}/clusters", timeout=2) as r:
                text = r.read().decode()
        except OSError:
            return 0        # no Envoy answering: nothing is routed through it
        total = 0
        for line in text.splitlines():
            parts = line.split("::")
            if len(parts) == 4 and parts[0] in (HTTP_CLUSTER, GRPC_CLUSTER) and parts[2] == "rq_active" \
                    and parts[1].rsplit(":", 1)[-1] in ports:
                total += int(parts[3])
        return total

    def drain(self, names: set[str], stop: bool = True) -> None:
        """Out of rotation; wait (at most drain_seconds) until their in-flight requests finish."""
        self.sync(leaving=names)
        deadline = time.monotonic() + self.drain_s
        time.sleep(0.2)         # Envoy picks the moved file up from inotify; let it land
        while (left := self.active(names)) and time.monotonic() < deadline:
            time.sleep(0.1)
        if left:
            self.say(f"drain of {', '.join(sorted(names))}: {left} request(s) still in flight after {self.drain_s:g} s")
        if stop:
            present = names & self._all_containers()
            if present:
                subprocess.run(["docker", "rm", "-f", *sorted(present)], capture_output=True)
                self.say(f"stopped after draining: {', '.join(sorted(present))}")

    def _all_containers(self) -> set[str]:
        proc = subprocess.run(["docker", "ps", "-a", "--filter", "label=migfleet.role=triton", "--format",
                               "{{.Names}}"], capture_output=True, text=True)
        return set(proc.stdout.split())

    def start(self, names: set[str] | None = None) -> bool:
        files = [rf for rf in self.run_files() if names is None or rf["name"] in names]
        missing = (names or set()) - {rf["name"] for rf in files}
        if missing:
            self.say(f"no run file for {', '.join(sorted(missing))}")
            return False
        # A Triton that is down but still listed leaves the endpoints first: it joins again as a new
        # endpoint once ready, without the failed health and outlier state of the dead one.
        down = {rf["name"] for rf in files} - self.running()
        if down:
            self.sync(leaving=down)
        gpus = read_gpus()          # once: the devices do not change while Tritons start
        started, failed = rebind.rebind(files, gpus, self.say)
        failed += rebind.wait_ready(started, self.ready_s, self.say)
        self.sync(leaving=set(failed), gpus=gpus)
        ready = [rf for rf in started if rf["name"] not in failed]
        unhealthy = self.wait_healthy(ready)
        if unhealthy:
            self.say(f"in rotation but not yet healthy in Envoy after {self.ready_s:g} s: {', '.join(unhealthy)}")
        if failed:
            self.say(f"not serving: {', '.join(failed)}")
        return not failed

    def wait_healthy(self, run_files: list[dict]) -> list[str]:
        """Wait until Envoy's health checks pass for these Tritons (bounded); names still failing."""
        want = {f"127.0.0.1:{rf[k]}": rf["name"] for rf in run_files for k in ("http_port", "grpc_port")}
        deadline = time.monotonic() + self.ready_s
        while want:
            try:
                with urllib.request.urlopen(f"{self.admin}/clusters", timeout=2) as r:
                    text = r.read().decode()
            except OSError:
                return []       # no Envoy answering here: nothing to wait for
            healthy = {parts[1] for parts in (ln.split("::") for ln in text.splitlines())
                       if len(parts) == 4 and parts[2] == "health_flags" and parts[3] == "healthy"
                       and parts[0] in (HTTP_CLUSTER, GRPC_CLUSTER)}
            want = {ep: n for ep, n in want.items() if ep not in healthy}
            if not want or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        return sorted(set(want.values()))

    def roll(self, names: list[str]) -> bool:
        """Replace one at a time: out of rotation, drained, started again, back in."""
        ok = True
        for name in names:
            self.drain({name})
            ok = self.start({name}) and ok
        return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m migfleet.serving.rotation")
    parser.add_argument("action", choices=("sync", "drain", "start", "roll"))
    parser.add_argument("names", nargs="?", default="", help="comma-separated Triton containers")
    parser.add_argument("--config", default=HOST_CONFIG)
    args = parser.parse_args(argv)
    with open(args.config, encoding="utf-8") as fh:
        config = json.load(fh)
    host = Host(config, say=lambda m: print(f"migfleet-rotation: {m}", flush=True))
    names = [n for n in args.names.split(",") if n]
    if args.action == "sync":
        host.sync()
        return 0
    if args.action == "drain":
        host.drain(set(names))
        return 0
    if args.action == "start":
        return 0 if host.start(set(names) if names else None) else 1
    return 0 if host.roll(names) else 1


if __name__ == "__main__":
    sys.exit(main())
