"""Canary then batches, each deployed with pyinfra and proven by the spec suite.

Settings come from inventory data (inventory.rollout_settings): a canary batch, then batches by
size or percent; the rollout stops after the batch that passes the failure threshold, and later
batches are not started.

Resuming: hosts the state file records as converged are verified again (the spec suite, no
deploy); those that still pass are skipped, the others go back into the queue. `trust_state`
skips that check.
"""
from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

from migfleet.inventory.rollout_settings import RolloutError, RolloutSettings, check, failure_budget

STATE_VERSION = 1
SPEC_SUITE = str(Path(__file__).resolve().parents[1] / "spec")
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


# ---------------------------------------------------------------- batches (pure)

def plan_batches(hosts: Sequence[str], settings: RolloutSettings, total_hosts: int | None = None
                 ) -> list[list[str]]:
    """Split hosts (in order) into the canary batch and the following batches.

    `total_hosts` is the fleet size percentages refer to (default: len(hosts)); on a resumed
    rollout it stays the inventory's size so batches keep their size.
    """
    check(settings)
    hosts = list(hosts)
    if len(set(hosts)) != len(hosts):
        raise RolloutError(f"duplicate hosts: {hosts}")
    total = len(hosts) if total_hosts is None else total_hosts
    batches: list[list[str]] = []
    if settings.canary and hosts:
        batches.append(hosts[:settings.canary])
        hosts = hosts[settings.canary:]
    if settings.batch_size is not None:
        size = settings.batch_size
    elif settings.batch_percent is not None:
        size = max(1, math.ceil(settings.batch_percent * total / 100 - 1e-9))
    else:
        size = max(1, len(hosts))
    batches += [hosts[i:i + size] for i in range(0, len(hosts), size)]
    return batches


def exceeds(failures: int, budget: int) -> bool:
    return failures > budget


# ---------------------------------------------------------------- attributing errors (pure)

@dataclass
class HostResult:
    host: str
    ok: bool
    reasons: list[str] = field(default_factory=list)


_ERROR_LINE = re.compile(r"error|could not connect|failed|traceback", re.IGNORECASE)
_ROUTINE_LINE = re.compile(r"^\[[^\]]+\]\s+(Success|No changes|Connected|Ready:|Skipped)\b")   # pyinfra 3.10: 2 spaces


def deploy_errors(output: str, hosts: Iterable[str]) -> dict[str, list[str]]:
    """pyinfra's error lines per host (`[host] Error: ...`, `[host] Could not connect ...`).

    A failed operation's own messages for the host (logged before pyinfra's generic
    `[host] Error: executed N commands`) say why it failed, so they come first.
    """
    hosts = list(hosts)
    found: dict[str, list[str]] = {}
    section: dict[str, list[str]] = {}      # host -> its lines since the last `--> ...` header
    for raw in output.splitlines():
        line = ANSI.sub("", raw).strip()
        if line.startswith("-->"):
            section = {}
            continue
        host = next((h for h in hosts if line.startswith(f"[{h}]")), None)
        if host is None or _ROUTINE_LINE.match(line):
            continue
        if _ERROR_LINE.search(line):
            found.setdefault(host, []).extend(section.pop(host, []))
            found[host].append(line)
        else:
            section.setdefault(host, []).append(line)
    return found


def spec_results(junit_xml: str, hosts: Iterable[str]) -> dict[str, tuple[int, list[str]]]:
    """Spec suite junit XML -> {host: (tests passed, failure lines)}.

    Test cases carry a `host` property (migfleet/spec/conftest.py records it, junit_family xunit1);
    without it, the test id's parameter (`test_x[host]`) names the host.
    """
    hosts = list(hosts)
    out: dict[str, tuple[int, list[str]]] = {h: (0, []) for h in hosts}
    try:
        root = ET.fromstring(junit_xml)
    except ET.ParseError as exc:
        raise RolloutError(f"spec suite report is not junit XML: {exc}") from None
    for case in root.iter("testcase"):
        prop = case.find("properties/property[@name='host']")
        if prop is not None:
            host = prop.get("value")
        else:
            m = re.search(r"\[([^\]]+)\]$", case.get("name") or "")
            host = m[1] if m else None
        if host not in out:
            continue
        passed, failures = out[host]
        bad = case.find("failure")
        if bad is None:
            bad = case.find("error")
        if bad is not None:
            message = re.sub(r"^Failed:\s*", "", (bad.get("message") or bad.text or "").strip())
            failures.append(f"{case.get('name')}: {message.splitlines()[0] if message else bad.tag}"
                            + ("" if len(message.splitlines()) <= 1 else
                               "".join(f"\n      {ln}" for ln in message.splitlines()[1:8])))
        elif case.find("skipped") is None:
            passed += 1
        out[host] = (passed, failures)
    return out


def host_lines(output: str, hosts: Iterable[str]) -> dict[str, list[str]]:
    """Each host's own lines of pyinfra's output (routine ones left out): what it logged."""
    hosts = list(hosts)
    found: dict[str, list[str]] = {}
    for raw in output.splitlines():
        line = ANSI.sub("", raw).strip()
        host = next((h for h in hosts if line.startswith(f"[{h}]")), None)
        if host is not None and not _ROUTINE_LINE.match(line):
            found.setdefault(host, []).append(line)
    return found


def judge(hosts: Sequence[str], deploy_rc: int, deploy_output: str, spec: Mapping[str, tuple[int, list[str]]]
          ) -> list[HostResult]:
    """A host converged when pyinfra reported no error for it and its spec tests ran and passed.

    pyinfra failing without an error line for any host: a host failed before anything ran for it
    (migfleet says why in its own words, without pyinfra's "Error"). The hosts whose spec did not
    pass are those, with the lines they logged; only when every spec passed is the whole batch blamed."""
    errors = deploy_errors(deploy_output, hosts)
    if deploy_rc != 0 and not errors:
        tail = [ANSI.sub("", ln).strip() for ln in deploy_output.strip().splitlines()[-5:]]
        exited = f"pyinfra exited {deploy_rc}: " + " | ".join(tail)
        unproven = [h for h in hosts if spec.get(h, (0, []))[1] or not spec.get(h, (0, []))[0]]
        own = host_lines(deploy_output, unproven)
        errors = {h: own.get(h) or [exited] for h in (unproven or hosts)}
    results = []
    for host in hosts:
        reasons = list(errors.get(host, []))
        passed, failures = spec.get(host, (0, []))
        reasons += failures
        if not failures and passed == 0:
            reasons.append("no spec test ran for this host")
        results.append(HostResult(host, not reasons, reasons))
    return results


# ---------------------------------------------------------------- state file

def state_path(inventory: str, state_dir: str | Path = ".migfleet") -> Path:
    return Path(state_dir) / f"rollout-{Path(inventory).stem}.json"


def load_state(path: Path) -> dict:
    if not path.exists():
        return {"version": STATE_VERSION, "hosts": {}}
    state = json.loads(path.read_text())
    if state.get("version") != STATE_VERSION:
        raise RolloutError(f"{path}: unknown state version {state.get('version')!r}")
    return state


def save_state(path: Path, state: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)


def record(state: dict, result: HostResult, batch: str) -> None:
    state["hosts"][result.host] = {"status": "converged" if result.ok else "failed",
                                   "reasons": result.reasons, "batch": batch,
                                   "at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


# ---------------------------------------------------------------- running

@dataclass(frozen=True)
class CommandResult:
    rc: int
    output: str


Runner = Callable[[list[str]], CommandResult]


def subprocess_runner(argv: list[str]) -> CommandResult:
    """Run a command, echoing its output indented as it comes, and keep the output."""
    lines = []
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          errors="replace") as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            sys.stdout.write("    | " + line)
            sys.stdout.flush()
    return CommandResult(proc.returncode, "".join(lines))


@dataclass
class Rollout:
    inventory: str
    hosts: list[str]                    # inventory order
    settings: RolloutSettings
    state_file: Path
    runner: Runner = subprocess_runner
    deploy_file: str = "deploy.py"
    pyinfra: Sequence[str] = ("pyinfra",)
    pytest: Sequence[str] = (sys.executable, "-m", "pytest")
    pyinfra_args: Sequence[str] = ()
    report_dir: Path = Path(".migfleet")
    trust_state: bool = False
    out: Callable[[str], None] = print
    clock: Callable[[], float] = time.monotonic

    def deploy_argv(self, hosts: Sequence[str]) -> list[str]:
        limits = [arg for h in hosts for arg in ("--limit", h)]
        return [*self.pyinfra, "-y", self.inventory, self.deploy_file, *limits, *self.pyinfra_args]

    def spec_argv(self, hosts: Sequence[str], junit: Path) -> list[str]:
        # Values joined to their options: pytest reads a lone argument starting with "@" (@local) as
        # a file of arguments.
        return [*self.pytest, SPEC_SUITE, f"--inventory={self.inventory}", f"--hosts-limit={','.join(hosts)}",
                f"--junitxml={junit}", "-o", "junit_family=xunit1", "-q", "--tb=no", "-p", "no:cacheprovider"]

    def verify(self, hosts: Sequence[str], label: str) -> dict[str, tuple[int, list[str]]]:
        junit = self.report_dir / f"spec-{Path(self.inventory).stem}-{label}.xml"
        junit.parent.mkdir(parents=True, exist_ok=True)
        junit.unlink(missing_ok=True)
        result = self.runner(self.spec_argv(hosts, junit))
        if not junit.exists():
            return {h: (0, [f"spec suite produced no report (exit {result.rc}): "
                            + " | ".join(result.output.strip().splitlines()[-3:])]) for h in hosts}
        return spec_results(junit.read_text(), hosts)

    def run(self) -> bool:
        """Roll out; True when every host converged."""
        start = self.clock()
        state = load_state(self.state_file)
        recorded = [h for h in self.hosts if state["hosts"].get(h, {}).get("status") == "converged"]
        done: set[str] = set()
        if recorded and self.trust_state:
            done = set(recorded)
            self.out(f"resume: {len(done)} host(s) recorded converged, trusted: {', '.join(recorded)}")
        elif recorded:
            self.out(f"resume: re-checking {len(recorded)} host(s) recorded converged: {', '.join(recorded)}")
            spec = self.verify(recorded, "resume")
            for host in recorded:
                passed, failures = spec.get(host, (0, []))
                if passed and not failures:
                    done.add(host)
                else:
                    self.out(f"  {host}: no longer passes its spec, back in the queue")
            self.out(f"resume: skipping {len(done)} converged host(s)")
        todo = [h for h in self.hosts if h not in done]
        batches = plan_batches(todo, self.settings, total_hosts=len(self.hosts))
        budget = failure_budget(len(self.hosts), self.settings.max_failures)
        failed: list[HostResult] = []
        canary_count = min(self.settings.canary, len(todo))
        self.out(f"rollout of {len(todo)} host(s) in {len(batches)} batch(es); "
                 f"failures tolerated: {budget}; state: {self.state_file}")
        for k, batch in enumerate(batches, 1):
            is_canary = k == 1 and canary_count > 0
            label = "canary" if is_canary else f"batch{k}"
            self.out(f"[{self._elapsed(start)}] batch {k}/{len(batches)}{' (canary)' if is_canary else ''}: "
                     f"{', '.join(batch)}")
            deploy = self.runner(self.deploy_argv(batch))
            self.out(f"[{self._elapsed(start)}]   deploy exit {deploy.rc}; running spec suite")
            results = judge(batch, deploy.rc, deploy.output, self.verify(batch, label))
            for result in results:
                record(state, result, label)
                self.out(f"  {result.host}: {'converged' if result.ok else 'FAILED'}")
                for reason in result.reasons:
                    self.out(f"      {reason}")
            save_state(self.state_file, state)
            failed += [r for r in results if not r.ok]
            bad_canary = is_canary and any(not r.ok for r in results)
            if bad_canary or exceeds(len(failed), budget):
                why = "canary failed" if bad_canary else f"{len(failed)} failure(s), more than {budget} tolerated"
                self.out(f"[{self._elapsed(start)}] STOPPED after batch {k}/{len(batches)}: {why}")
                self._summary(failed)
                return False
        self.out(f"[{self._elapsed(start)}] done: {len(self.hosts) - len(failed)}/{len(self.hosts)} converged")
        self._summary(failed)
        return not failed

    def _summary(self, failed: list[HostResult]) -> None:
        for r in failed:
            self.out(f"failed: {r.host}: {r.reasons[0] if r.reasons else ''}")

    def _elapsed(self, start: float) -> str:
        s = int(self.clock() - start)
        return f"{s // 60:02d}:{s % 60:02d}"
