"""`preflight check` against the real lab cluster, healthy and with real faults injected."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Lab, run_preflight

pytestmark = pytest.mark.lab


def findings(report: dict[str, Any], rule: str, node: str) -> list[dict[str, Any]]:
    return [f for f in report["findings"] if f["rule"] == rule and f["node"] == node]


def test_healthy_lab_exits_0_with_no_error_findings(lab: Lab) -> None:
    result = run_preflight("check", "--inventory", str(lab.inventory), "--format", "json")
    report = result.json()
    assert result.returncode == 0, result.stdout
    assert report["summary"]["critical"] == 0 and report["summary"]["error"] == 0
    assert report["summary"]["checks"]["unknown"] == 0
    # From the root namespace the lab's host names do not resolve: that only breaks CLI tools run
    # here, so it is the one thing reported, as warnings.
    assert {(f["rule"], f["severity"]) for f in report["findings"]} <= {("HOST001", "warning")}
    statuses = {(c["rule"], c["node"]): c["status"] for c in report["checks"]}
    assert statuses[("VER001", "rabbit@rabbit2")] == "pass"


def test_stopped_node_exits_1_and_the_finding_says_its_port_refused(lab: Lab) -> None:
    with lab.fault("stop", "rabbit2"):
        result = run_preflight("check", "--inventory", str(lab.inventory), "--format", "json")
    report = result.json()
    assert result.returncode == 1
    [amqp] = [f for f in findings(report, "PORT001", "rabbit@rabbit2") if f["evidence"]["role"] == "amqp"]
    assert "rabbit@rabbit2: tcp/5672 (AMQP) on 198.18.0.12 refused the connection" in amqp["message"]
    assert "node is not running" in amqp["message"]
    assert not [f for f in report["findings"] if f["node"] in ("rabbit@rabbit1", "rabbit@rabbit3")
                and f["severity"] in ("error", "critical")]
    statuses = {(c["rule"], c["node"]): c["status"] for c in report["checks"]}
    assert statuses[("VER001", "rabbit@rabbit2")] == "unknown"
    assert statuses[("VER001", "rabbit@rabbit1")] == "pass"


def test_text_report_names_the_stopped_node_and_the_fix(lab: Lab) -> None:
    with lab.fault("stop", "rabbit3"):
        result = run_preflight("check", "--inventory", str(lab.inventory))
    assert result.returncode == 1
    assert "rabbit@rabbit3\n" in result.stdout
    assert "refused the connection" in result.stdout and "systemctl start rabbitmq-server" in result.stdout
    assert "FAIL:" in result.stdout


def test_collect_then_check_from_saved_facts_gives_the_same_verdict(lab: Lab, tmp_path: Any) -> None:
    facts = tmp_path / "facts.json"
    collected = run_preflight("collect", "--inventory", str(lab.inventory), "--output", str(facts))
    assert collected.returncode == 0, collected.stderr
    judged = run_preflight("check", "--facts", str(facts), "--format", "json")
    assert judged.returncode == 0
    assert judged.json()["summary"]["checks"]["pass"] > 0
