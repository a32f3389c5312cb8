"""The shipped Prometheus rules: promtool checks them and runs their unit tests (each alert fires
on its series and stays silent beside them)."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

MONITORING = Path(__file__).resolve().parents[2] / "monitoring"
RULES = sorted((MONITORING / "rules").glob("*.yml"))
TESTS = sorted((MONITORING / "tests").glob("*.yml"))
ALERTS = ("MigfleetMetricsEndpointDown", "MigfleetInstanceDown", "MigfleetFailureRatioHigh",
          "MigfleetInstanceP99OverBudget", "MigfleetHostP99OverBudget", "MigfleetHealthyEndpointsBelowInstances")


def _promtool(*args: str) -> subprocess.CompletedProcess:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool missing (bin/setup installs Debian's prometheus)")
    return subprocess.run([promtool, *args], capture_output=True, text=True, timeout=120)


def test_promtool_checks_the_rules():
    assert RULES
    result = _promtool("check", "rules", *map(str, RULES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_pass():
    assert TESTS
    result = _promtool("test", "rules", *map(str, TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_is_tested_firing():
    import yaml

    defined = {r["alert"] for f in RULES for g in yaml.safe_load(f.read_text())["groups"]
               for r in g["rules"] if "alert" in r}
    assert defined == set(ALERTS)
    fired = {t["alertname"] for f in TESTS for case in yaml.safe_load(f.read_text())["tests"]
             for t in case.get("alert_rule_test", []) if t["exp_alerts"]}
    assert fired == defined


def test_the_documented_dcgm_join_is_the_tested_one():
    import yaml

    docs = (MONITORING.parent / "docs" / "METRICS.md").read_text()
    [documented] = [block for block in docs.split("```promql\n")[1:]]
    documented = documented.split("```")[0]
    tested = yaml.safe_load((MONITORING / "tests" / "dcgm-join.test.yml").read_text())
    [case] = tested["tests"]
    assert " ".join(documented.split()) == " ".join(case["promql_expr_test"][0]["expr"].split())
