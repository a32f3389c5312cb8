"""Which Tritons Envoy sends requests to, kept on the host (standard library only).

Envoy reads its endpoints (EDS) and listeners (LDS) from files in its config directory and
reloads them when a file is moved into it, so a change of endpoints never restarts Envoy. This
module is the one writer of those files: it renders them from the Triton run files and the MIG
devices now present, writes each beside its target and renames it into place.

    python3 -m migfleet.serving.rotation sync                  endpoints = the running Tritons
    python3 -m migfleet.serving.rotation drain NAME,...        a model only they serve lent to a Triton
                                                               that stays (serving.moves); out of rotation,
                                                               in-flight requests finish (bounded), stopped
    python3 -m migfleet.serving.rotation start [NAME,...]      started on the MIG device at their
                                                               place, ready, then into rotation
    python3 -m migfleet.serving.rotation roll NAME,...         replaced one at a time, each drained
    python3 -m migfleet.serving.rotation models [NAME,...]     each loads exactly its run file's models:
                                                               gains load and join, then losses leave,
                                                               drain and unload

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
from collections.abc import Mapping
from dataclasses import replace

from migfleet.mig.boot import read_gpus
from migfleet.serving.containers import LABEL_ROLE
from migfleet.serving import rebind
from migfleet.serving.models import SERVED_DIR
from migfleet.serving.moves import ModelMoves
from migfleet.serving.endpoints import (
    GRPC_CLUSTER, HTTP_CLUSTER, LDS, LDS_TEMPLATE, eds_docs, lds_doc, model_cluster, models_of, parse_clusters,
)
from migfleet.serving.triton import ROLE, RUN_DIR, RUN_SUFFIX, Triton, TritonPlanError, devices

HOST_CONFIG = "/etc/migfleet/rotation.json"
LABEL_FILTER = f"label={LABEL_ROLE}={ROLE}"


def host_config(settings: Mapping, model_mib: Mapping[str, float] | None = None) -> dict:
    """What the host-side rotation reads (HOST_CONFIG), from the resolved serving settings; with the
    models the host serves and the memory each takes (MiB), what a lend may move."""
    return {"envoy_dir": settings["envoy_config_dir"].rstrip("/"), "admin_port": settings["envoy_admin_port"],
            "run_dir": RUN_DIR, "drain_seconds": settings["envoy_drain_seconds"],
            "ready_timeout": settings["triton_ready_timeout"],
            "model_mib": {m: round(float(v), 3) for m, v in sorted((model_mib or {}).items())}}


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


class Host(ModelMoves):
    """This host's run files, containers, MIG devices and Envoy, as its config (HOST_CONFIG) says."""

    def __init__(self, config: Mapping, say=print):
        self.envoy_dir = config["envoy_dir"]
        self.admin = f"http://127.0.0.1:{config['admin_port']}"
        self.run_dir = config["run_dir"]
        self.drain_s = float(config["drain_seconds"])
        self.ready_s = float(config["ready_timeout"])
        self.model_mib = {str(m): float(v) for m, v in (config.get("model_mib") or {}).items()}
        self.served_dir = config.get("served_dir", SERVED_DIR)
        self.say = say

    def run_files(self) -> list[Triton]:
        out = []
        for path in sorted(glob.glob(f"{self.run_dir}/*{RUN_SUFFIX}")):
            with open(path, encoding="utf-8") as fh:
                try:
                    out.append(Triton.from_json(fh.read()))
                except TritonPlanError as e:
                    raise TritonPlanError(f"{path}: {e}") from None
        return out

    def containers(self, stopped: bool = False) -> set[str]:
        """Names of migfleet's Triton containers: running ones, or all with `stopped`."""
        proc = subprocess.run(["docker", "ps", *(["-a"] if stopped else []), "--filter", LABEL_FILTER,
                               "--format", "{{.Names}}"], capture_output=True, text=True)
        return set(proc.stdout.split())

    def sync(self, leaving: set[str] = frozenset(), gpus: dict | None = None,
             keep: dict[str, set[str]] | None = None) -> None:
        """Endpoints = running Tritons that have a run file, less `leaving`, in the clusters of the
        models they serve (served file, else run file; and of those `keep` {name: models} leaves them a
        while longer); listeners with live ids."""
        running, files = self.containers(), [replace(t, models=self.served(t)) for t in self.run_files()]
        serving = [t for t in files if t.name in running and t.name not in leaving]
        docs = eds_docs(serving, models_of(files) + sorted({m for ms in (keep or {}).values() for m in ms}), keep)
        changed = [name for name, text in docs.items() if write_atomic(self.envoy_dir, name, text)]
        template = os.path.join(self.envoy_dir, LDS_TEMPLATE)
        if os.path.exists(template):
            with open(template, encoding="utf-8") as fh:
                at = devices(gpus if gpus is not None else read_gpus())
                if write_atomic(self.envoy_dir, LDS, lds_doc(fh.read(), at)):
                    changed.append(LDS)
        if changed:
            self.say(f"Envoy endpoints: {', '.join(sorted(t.name for t in serving)) or 'none'}")

    def endpoints(self) -> dict[tuple[str, str], dict[str, str]] | None:
        """Envoy's admin /clusters, parsed; None when no Envoy answers."""
        try:
            with urllib.request.urlopen(f"{self.admin}/clusters", timeout=2) as r:
                return parse_clusters(r.read().decode())
        except OSError:
            return None

    def active(self, names: set[str], models: dict[str, set[str]] | None = None) -> int:
        """Requests in flight to these Tritons, from Envoy's admin /clusters: in any cluster, or
        with `models` ({name: models}) in those models' clusters only."""
        stats = self.endpoints() or {}      # no Envoy answering: nothing is routed through it
        want = {(c, ep) for t in self.run_files() if t.name in names for c, ep in _members(t, models)}
        return sum(int(s.get("rq_active", 0)) for key, s in stats.items() if key in want)

    def drain(self, names: set[str], stop: bool = True) -> dict[str, str]:
        """A model only they serve lent first (ModelMoves.lend); out of rotation; wait (at most
        drain_seconds) until their in-flight requests finish; {model: lender}."""
        lends = self.lend(names) if stop else {}
        self.sync(leaving=names)
        deadline = time.monotonic() + self.drain_s
        time.sleep(0.2)         # Envoy picks the moved file up from inotify; let it land
        while (left := self.active(names)) and time.monotonic() < deadline:
            time.sleep(0.1)
        if left:
            self.say(f"drain of {', '.join(sorted(names))}: {left} request(s) still in flight after {self.drain_s:g} s")
        if stop:
            present = names & self.containers(stopped=True)
            if present:
                subprocess.run(["docker", "rm", "-f", *sorted(present)], capture_output=True)
                self.say(f"stopped after draining: {', '.join(sorted(present))}")
        return lends

    def start(self, names: set[str] | None = None) -> bool:
        files = [t for t in self.run_files() if names is None or t.name in names]
        missing = (names or set()) - {t.name for t in files}
        if missing:
            self.say(f"no run file for {', '.join(sorted(missing))}")
            return False
        # A Triton that is down but still listed leaves the endpoints first: it joins again as a new
        # endpoint once ready, without the failed health and outlier state of the dead one.
        down = {t.name for t in files} - self.containers()
        if down:
            self.sync(leaving=down)
        gpus = read_gpus()          # once: the devices do not change while Tritons start
        started, failed = rebind.rebind(files, gpus, self.say, self.served_dir)
        failed += rebind.wait_ready(started, self.ready_s, self.say)
        for t in started:          # its models' Triton settings, before it joins the rotation
            errors = [] if t.name in failed else rebind.apply_settings(t, self.ready_s)[1]
            for error in errors:
                self.say(error)
            failed += [t.name] if errors else []
        self.sync(leaving=set(failed), gpus=gpus)
        ready = [t for t in started if t.name not in failed]
        unhealthy = self.wait_healthy(ready) or self.wait_healthy(ready, {t.name: set(t.models) for t in ready})
        if unhealthy:
            self.say(f"in rotation but not yet healthy in Envoy after {self.ready_s:g} s: {', '.join(unhealthy)}")
        if failed:
            self.say(f"not serving: {', '.join(failed)}")
        return not failed

    def wait_healthy(self, tritons: list[Triton], models: dict[str, set[str]] | None = None) -> list[str]:
        """Wait until Envoy's health checks pass for these Tritons (bounded), in the Triton clusters or
        with `models` ({name: models}) in those models' clusters; names still failing."""
        want = {key: t.name for t in tritons for key in _members(t, models)}
        deadline = time.monotonic() + self.ready_s
        while want:
            stats = self.endpoints()
            if stats is None:
                return []       # no Envoy answering here: nothing to wait for
            want = {key: n for key, n in want.items() if (stats.get(key) or {}).get("health_flags") != "healthy"}
            if not want or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        return sorted(set(want.values()))

    def roll(self, names: list[str]) -> bool:
        """Replace one at a time: out of rotation, drained, started again, back in."""
        ok = True
        for name in names:
            lenders = set(self.drain({name}).values())
            ok = self.start({name}) and ok
            if lenders:         # the lent models go back once the replaced Triton serves them again
                ok = self.models(lenders) and ok
        return ok


def _members(t: Triton, models: dict[str, set[str]] | None) -> list[tuple[str, str]]:
    """(cluster, endpoint) of a Triton: in both Triton clusters, or in those of its `models` entry."""
    http, grpc = f"127.0.0.1:{t.ports.http}", f"127.0.0.1:{t.ports.grpc}"
    if models is None:
        return [(HTTP_CLUSTER, http), (GRPC_CLUSTER, grpc)]
    return [pair for m in sorted(models.get(t.name, ())) for pair in
            ((model_cluster(HTTP_CLUSTER, m), http), (model_cluster(GRPC_CLUSTER, m), grpc))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m migfleet.serving.rotation")
    parser.add_argument("action", choices=("sync", "drain", "start", "roll", "models"))
    parser.add_argument("names", nargs="?", default="", help="comma-separated Triton containers")
    parser.add_argument("--config", default=HOST_CONFIG)
    args = parser.parse_args(argv)
    with open(args.config, encoding="utf-8") as fh:
        config = json.load(fh)
    host = Host(config, say=lambda m: print(f"migfleet-rotation: {m}", flush=True))
    names = [n for n in args.names.split(",") if n]
    try:
        return _act(host, args.action, names)
    except TritonPlanError as e:
        host.say(str(e))
        return 1


def _act(host: Host, action: str, names: list[str]) -> int:
    if action == "sync":
        host.sync()
        return 0
    if action == "drain":
        host.drain(set(names))
        return 0
    if action == "start":
        return 0 if host.start(set(names) if names else None) else 1
    if action == "models":
        return 0 if host.models(set(names) if names else None) else 1
    return 0 if host.roll(names) else 1


if __name__ == "__main__":
    sys.exit(main())
