"""Network faults on the multi-host lab: a firewalled port, a missing or wrong /etc/hosts entry."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Lab, run_preflight

pytestmark = pytest.mark.lab

HOST_INVENTORY = "/etc/rabbitmq/preflight.toml"  # the lab's per-host inventory, visible inside each host


def of(report: dict[str, Any], rule: str, node: str) -> list[dict[str, Any]]:
    return [f for f in report["findings"] if f["rule"] == rule and f["node"] == node]


def test_dropped_distribution_port_is_reported_filtered_for_that_node(lab: Lab) -> None:
    with lab.fault("drop-port", "rabbit3", "25672"):
        result = run_preflight("check", "--inventory", str(lab.inventory), "--format", "json")
    report = result.json()
    assert result.returncode == 1
    [finding] = of(report, "PORT002", "rabbit@rabbit3")
    assert finding["evidence"]["port"] == 25672 and finding["evidence"]["role"] == "dist"
    assert "filtered by a firewall" in finding["message"]
    assert "--dport 25672" in finding["remediation"]
    assert not of(report, "PORT002", "rabbit@rabbit1") and not of(report, "PORT002", "rabbit@rabbit2")
    assert report["duration_ms"] < 15_000  # the inventory's deadline holds


def test_peer_missing_from_a_hosts_file_is_reported_on_that_host_with_the_line_to_add(lab: Lab) -> None:
    with lab.fault("hosts", "rabbit3", "rabbit1"):
        result = lab.preflight_on("rabbit3", "check", "--inventory", HOST_INVENTORY, "--format", "json",
                                  "--select", "hostname")
    report = result.json()
    assert result.returncode == 1, result.stderr
    [finding] = of(report, "HOST001", "rabbit@rabbit1")
    assert finding["severity"] == "error"
    assert "rabbit1 does not resolve on rabbit@rabbit3" in finding["message"]
    assert "`198.18.0.11 rabbit1`" in finding["remediation"]
    assert not of(report, "HOST001", "rabbit@rabbit2")


def test_hosts_entry_pointing_at_a_wrong_address_is_reported(lab: Lab) -> None:
    with lab.fault("hosts", "rabbit2", "rabbit3", "--wrong=198.18.0.99"):
        result = lab.preflight_on("rabbit2", "check", "--inventory", HOST_INVENTORY, "--format", "json",
                                  "--select", "HOST003")
    [finding] = of(result.json(), "HOST003", "rabbit@rabbit3")
    assert "resolves to 198.18.0.99" in finding["message"] and "node is at 198.18.0.13" in finding["message"]
    assert "`198.18.0.13 rabbit3`" in finding["remediation"]


def test_check_run_on_a_healthy_host_resolves_every_peer(lab: Lab) -> None:
    result = lab.preflight_on("rabbit2", "check", "--inventory", HOST_INVENTORY, "--format", "json",
                              "--select", "hostname,port")
    report = result.json()
    assert result.returncode == 0, result.stdout
    assert report["origins"] == ["rabbit2"]
    statuses = {(c["rule"], c["node"]): c["status"] for c in report["checks"]}
    assert all(statuses[("HOST001", f"rabbit@rabbit{i}")] == "pass" for i in (1, 2, 3))
