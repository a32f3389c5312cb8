"""The measuring loop over one host's GPU, driven from the controller through one command session
(fleet.ssh.session: SSH, or this machine for @local); each step is one `migfleet.measure.host` action.

    begin (drain) -> per profile: layout, one Triton -> per model and setting: load -> ladder of
    perf_analyzer runs, each point appended as measured -> end (inventory layout, undrain)

`end` runs however the loop stops (an error, Ctrl-C); a run killed outright leaves the host's
marker, which the next deploy (or the next measure run) sees and acts on.
"""
from __future__ import annotations

import datetime
import json
import shlex
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from migfleet.measure import perf
from migfleet.measure.grid import Grid, Setting, duration, next_concurrency, skipped_lines
from migfleet.measure.results import Results
from migfleet.mig.geometry import Geometry, default_ci
from migfleet.mig.placed import ENABLED, GpuLayout, PlacedGi
from migfleet.serving.triton import Place, spec_for


class MeasureFailed(RuntimeError):
    """A step that failed on the host; the message names host, step and reason."""


@dataclass(frozen=True)
class Target:
    host: str
    gpu_index: int
    gpu_uuid: str
    gpu_model: str
    geometry: Geometry
    settings: Mapping          # the host's resolved serving settings
    lib_dir: str


def layout_of(geometry: Geometry, profile: str) -> GpuLayout:
    """The GPU as one instance of `profile` alone, at its first placement, one full-size compute instance."""
    p = geometry.profile(profile)
    return GpuLayout(ENABLED, (PlacedGi(p.placements[0][0], p.id, (default_ci(p),)),))


class Remote:
    """`migfleet.measure.host` actions through `run(command, timeout) -> (rc, out, err)`."""

    def __init__(self, target: Target, run: Callable[..., tuple[int, str, str]]):
        self.t, self.run = target, run

    def act(self, action: str, args: Mapping, timeout: float = 600) -> dict:
        command = (f"PYTHONPATH={shlex.quote(self.t.lib_dir)} python3 -m migfleet.measure.host {action} "
                   f"{shlex.quote(json.dumps(args))}")
        rc, out, err = self.run(command, timeout)
        try:
            answer = json.loads(out.strip().splitlines()[-1]) if out.strip() else {}
        except ValueError:
            answer = {}
        if rc != 0 or "error" in answer:
            why = answer.get("error") or (err or out).strip()[-500:] or f"exit {rc}"
            if rc == 124:
                why = f"no answer within {timeout:g} s"
            raise MeasureFailed(f"{self.t.host}: {action}: {why}")
        return answer

    def has_host_code(self) -> bool:
        rc, _, _ = self.run(f"test -f {shlex.quote(self.t.lib_dir)}/migfleet/measure/host.py", 30)
        return rc == 0

    def facts(self) -> dict:
        """Driver and Triton versions for the table's source."""
        rc, out, _ = self.run(f"nvidia-smi --query-gpu=driver_version --format=csv,noheader -i {self.t.gpu_index}", 30)
        return {"driver": out.strip() if rc == 0 else "unknown"}


def source(target: Target, command: str, driver: str, triton: str) -> dict:
    return {"command": command, "host": target.host, "gpu": target.gpu_model, "driver": driver, "triton": triton,
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}


class Measure:
    def __init__(self, remote: Remote, grid: Grid, results: Results, command: str, say=print,
                 on_setting: Callable[[], None] = lambda: None):
        self.r, self.t, self.grid, self.results = remote, remote.t, grid, results
        self.command, self.say, self.on_setting = command, say, on_setting
        self.measured = 0
        self.started = time.monotonic()
        self.tritons: list[str] = []

    def todo(self) -> list[Setting]:
        return [s for s in self.grid.settings
                if next_concurrency(self.grid, s, self.results.of(self.t.gpu_model, s)) is not None]

    def progress(self, point: dict, setting: Setting) -> None:
        left = self.todo()
        most = sum(len([c for c in self.grid.ladder if c > max((p["concurrency"] for p in self.results.of(
            self.t.gpu_model, s)), default=0)]) for s in left)
        per = (time.monotonic() - self.started) / max(self.measured, 1)
        done = len({(p["profile"], p["model"], p["max_batch_size"], p["instance_count"], p["concurrency"])
                    for p in self.results.points if p["gpu"] == self.t.gpu_model})
        self.say(f"measure: {self.t.host} GPU {self.t.gpu_index} {setting.words()} c={point['concurrency']}: "
                 f"{point['rate']:.1f}/s p99 {point['p99_ms']:.2f} ms | {done} done, at most {most} left "
                 f"in {len(left)} setting(s), about {duration(most * per)} left at most")

    def run(self) -> None:
        for line in skipped_lines(self.grid):
            self.say(f"measure: {self.t.host} GPU {self.t.gpu_index}:{line[1:]}")
        todo = self.todo()
        if not todo:
            self.say(f"measure: {self.t.host} GPU {self.t.gpu_index}: every point of the grid is measured already")
            return
        answer = self.r.act("begin", {"gpu_uuid": self.t.gpu_uuid, "gpu_index": self.t.gpu_index, "by": self.command},
                            timeout=float(self.t.settings["envoy_drain_seconds"]) + 120)
        self.say(f"measure: {self.t.host}: out of its load balancer, drained; stopped "
                 f"{', '.join(answer['stopped']) or 'no Triton'}" + (" (resuming an interrupted run)" if answer["resumed"] else ""))
        try:
            self._profiles(todo)
        finally:
            self.say(f"measure: {self.t.host}: restoring its inventory layout and Tritons, back in its load balancer")
            self.r.act("end", {"tritons": self.tritons}, timeout=900)

    def _profiles(self, todo: list[Setting]) -> None:
        first_source = True
        for profile in dict.fromkeys(s.profile for s in todo):
            placed = self.r.act("layout", {"gpu_uuid": self.t.gpu_uuid, "remove": self.tritons,
                                           "layout": layout_of(self.t.geometry, profile).to_json()})
            gi = placed["gis"][0]
            spec = spec_for(Place(self.t.gpu_index, gi["start"], 0, self.t.gpu_uuid, profile), self.t.settings, "measure")
            self.tritons = [spec.name]      # removed at the end even if it never gets ready
            self.r.act("triton", {"run": spec.to_json()}, timeout=float(self.t.settings["triton_ready_timeout"]) + 120)
            if first_source:
                triton = self._triton_version(spec.ports.http)
                self.results.add_source(source(self.t, self.command, self.r.facts()["driver"], triton), self.grid.targets)
                first_source = False
            for setting in [s for s in todo if s.profile == profile]:
                self._setting(setting, spec.ports.http, gi["gi_id"])

    def _triton_version(self, port: int) -> str:
        rc, out, _ = self.r.run(f"curl -fsS --max-time 5 http://127.0.0.1:{port}/v2", 30)
        try:
            return str(json.loads(out)["version"]) if rc == 0 else "unknown"
        except (ValueError, KeyError, TypeError):
            return "unknown"

    def _setting(self, setting: Setting, port: int, gi_id: int) -> None:
        got = self.r.act("load", {"port": port, "model": setting.model, "max_batch_size": setting.max_batch_size,
                                  "instance_count": setting.instance_count})
        if got["max_batch_size"] != setting.max_batch_size or got["instance_counts"] != [setting.instance_count]:
            raise MeasureFailed(f"{self.t.host}: {setting.words()}: Triton loaded max_batch_size "
                                f"{got['max_batch_size']}, instance counts {got['instance_counts']} instead")
        memory = None
        while (c := next_concurrency(self.grid, setting, self.results.of(self.t.gpu_model, setting))) is not None:
            row = self.r.act("perf", {"model": setting.model, "port": port, "concurrency": c,
                                      "window_ms": self.grid.window_ms,
                                      "prefix": list(self.t.settings.get("measure_perf_analyzer") or perf.DEFAULT_PREFIX)},
                             timeout=perf.run_seconds(self.grid.window_ms) + 60)
            if memory is None:
                memory = self.r.act("memory", {"gpu_index": self.t.gpu_index, "gi_id": gi_id})["memory_mib"]
            point = self.results.add_point(self.t.gpu_model, setting, {
                "concurrency": c, "rate": round(row["throughput_infer_s"], 3), "p50_ms": row["p50_ms"],
                "p95_ms": row["p95_ms"], "p99_ms": row["p99_ms"], "memory_mib": memory})
            self.measured += 1
            self.progress(point, setting)
        self.on_setting()
