"""A stand-in for pyinfra + the spec suite: hosts listed in `broken` fail their spec."""
from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import quoteattr

from migfleet.fleet.rollout import CommandResult


def junit(results: dict[str, dict[str, str]]) -> str:
    """{host: {test: failure message}} -> a junit report as pytest writes it (host property per case)."""
    cases = []
    for host, failures in results.items():
        for test in ("test_mig_layout", "test_triton_ready"):
            bad = [failures[test]] if test in failures else []
            body = "".join(f"<failure message={quoteattr(f)}>{f}</failure>" for f in bad)
            cases.append(f'<testcase classname="migfleet.spec.test_host" name="{test}[{host}]">'
                         f'<properties><property name="host" value="{host}"/></properties>{body}</testcase>')
    return f'<?xml version="1.0"?><testsuites><testsuite name="pytest">{"".join(cases)}</testsuite></testsuites>'


class FakeFleet:
    def __init__(self, broken=(), unreachable=(), deploy_rc=None):
        self.broken = set(broken)            # deploy "works" but the spec fails
        self.unreachable = set(unreachable)  # pyinfra cannot connect
        self.deploy_rc = deploy_rc
        self.calls: list[list[str]] = []
        self.deployed: list[str] = []
        self.converged: set[str] = set()

    def __call__(self, argv: list[str]) -> CommandResult:
        self.calls.append(argv)
        if "deploy.py" in argv:
            hosts = [argv[i + 1] for i, a in enumerate(argv) if a == "--limit"]
            self.deployed += hosts
            lines = []
            for h in hosts:
                if h in self.unreachable:
                    lines.append(f"\x1b[1m[{h}]\x1b[0m Could not connect (Timeout)")
                else:
                    lines.append(f"[{h}] Success")
                    if h not in self.broken:
                        self.converged.add(h)
            rc = self.deploy_rc if self.deploy_rc is not None else (1 if set(hosts) & self.unreachable else 0)
            return CommandResult(rc, "\n".join(lines) + "\n")
        hosts = next(a.split("=", 1)[1] for a in argv if a.startswith("--hosts-limit=")).split(",")
        report = next(a.split("=", 1)[1] for a in argv if a.startswith("--junitxml="))
        results = {h: ({} if h in self.converged else
                       {"test_mig_layout": f"{h} GPU 0 (GPU-x): instance at slice 0: expected 1g.10gb, found none"})
                   for h in hosts}
        Path(report).write_text(junit(results))
        return CommandResult(0 if all(not v for v in results.values()) else 1, "")
