"""A real Prometheus (Debian's package) on the lab bridge, scraping every lab host's metrics endpoint.

    start(bridge_ip, state_dir) -> "http://10.250.0.1:9090"     (lab.services.ensure_up calls it)
    write_lab_targets(state_dir, handoff)                       (after `up` writes the hand-off)
    stop(state_dir)                                             (lab.services.down calls it)

Targets come from file_sd (state_dir/prometheus/targets.json), written by migfleet's own
render_targets, so the lab scrapes exactly what `migfleet targets` gives a real fleet; Prometheus
re-reads the file when it changes. The rules shipped in monitoring/rules are loaded. Scrapes and rule
evaluations run every 2 s so tests see a change within seconds; data (retention 1 day) stays under
state_dir/prometheus/data.
"""
from __future__ import annotations

import json
import os
import signal
import urllib.parse
import urllib.request
from pathlib import Path

from migfleet.fleet.targets import render_targets

from . import supervisor
from .atomic import write_atomic

PORT = 9090
JOB = "migfleet"
INTERVAL = "2s"
BINARY = "prometheus"
RULES_DIR = Path(__file__).resolve().parent.parent / "monitoring" / "rules"


def _dir(state_dir: Path) -> Path:
    return Path(state_dir).resolve() / "prometheus"


def targets_file(state_dir: Path) -> Path:
    return _dir(state_dir) / "targets.json"


def config(targets: Path, rule_files: list[Path]) -> dict:
    return {
        "global": {"scrape_interval": INTERVAL, "scrape_timeout": INTERVAL, "evaluation_interval": INTERVAL},
        "rule_files": [str(p) for p in rule_files],
        "scrape_configs": [{
            "job_name": JOB,
            # The endpoint labels every series with `host` itself, and the targets carry the same
            # `host`: keep the endpoint's instead of renaming it to exported_host.
            "honor_labels": True,
            "metrics_path": "/metrics",
            "file_sd_configs": [{"files": [str(targets)], "refresh_interval": "5s"}],
        }],
    }


def _write_if_changed(path: Path, text: str) -> bool:
    """Write when different; True when the file changed. Rename, so Prometheus never reads half a file."""
    if path.exists() and path.read_text() == text:
        return False
    write_atomic(path, text)
    return True


def write_targets(state_dir: Path, hosts: dict[str, dict]) -> Path:
    """targets.json for {host name: host data} (render_targets' input)."""
    path = targets_file(state_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_if_changed(path, render_targets(hosts, same_machine=True))   # the lab's Prometheus runs beside its hosts
    return path


def write_lab_targets(state_dir: Path, handoff: dict) -> Path:
    """Targets for the hosts of the lab hand-off (inventory.json), at the address the inventory
    gives each host (ssh_hostname, as inventories/lab.py sets it)."""
    return write_targets(state_dir, {h["name"]: {"ssh_hostname": h["address"]} for h in handoff["hosts"]})


def start(listen_ip: str, state_dir: Path, port: int = PORT) -> str:
    """Start (or keep) Prometheus on listen_ip:port; returns its base URL. A changed config is
    reloaded with SIGHUP rather than a restart, which would cost the scraped data a WAL replay."""
    state_dir = Path(state_dir).resolve()
    base = _dir(state_dir)
    (base / "data").mkdir(parents=True, exist_ok=True)
    targets = targets_file(state_dir)
    if not targets.exists():
        _write_if_changed(targets, "[]\n")
    config_path = base / "prometheus.yml"
    # JSON is YAML: no YAML library needed in the lab.
    changed = _write_if_changed(config_path, json.dumps(config(targets, sorted(RULES_DIR.glob("*.yml"))), indent=2) + "\n")
    command = [BINARY, f"--config.file={config_path}", f"--storage.tsdb.path={base / 'data'}",
               "--storage.tsdb.retention.time=1d", f"--web.listen-address={listen_ip}:{port}",
               "--log.level=warn"]
    url = f"http://{listen_ip}:{port}"
    running = supervisor.running(state_dir, "prometheus")
    if changed and running is not None and running["command"] == command:
        os.kill(running["pid"], signal.SIGHUP)
    supervisor.start(state_dir, "prometheus", command, (listen_ip, port), url + "/-/ready")
    return url


def stop(state_dir: Path) -> None:
    supervisor.stop(Path(state_dir).resolve(), "prometheus")


def query(url: str, expr: str, timeout: float = 5) -> list[dict]:
    """Instant query; the result vector (each item: {"metric": labels, "value": [time, "value"]})."""
    with urllib.request.urlopen(f"{url}/api/v1/query?{urllib.parse.urlencode({'query': expr})}",
                                timeout=timeout) as resp:
        body = json.load(resp)
    if body.get("status") != "success":
        raise RuntimeError(f"query {expr!r} failed: {body}")
    return body["data"]["result"]
