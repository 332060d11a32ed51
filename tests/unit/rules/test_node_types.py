"""Family node-type: disc/RAM nodes and cluster sizes, from Facts fixtures."""

from __future__ import annotations

from typing import Literal

from rabbitmq_preflight.facts import ClusterNode, ProbeError
from rabbitmq_preflight.inventory import NodeSpec
from tests.ha_facts import facts, judge, management, statuses


def members(*types: Literal["disc", "ram"] | None, version: str = "3.10.8") -> list[ClusterNode]:
    return [ClusterNode(name=f"rabbit@n{i}", type=t, running=True, rabbitmq_version=version)
            for i, t in enumerate(types, start=1)]


def test_cluster_of_ram_nodes_only_is_critical_and_names_them() -> None:
    report = judge(facts(management(nodes=members("ram", "ram", "ram"))), "NODE001")
    [finding] = report.findings
    assert finding.severity == "critical"
    assert "rabbit@n1, rabbit@n2, rabbit@n3" in finding.message
    assert "change_cluster_node_type disc" in finding.remediation


def test_single_disc_node_with_ram_nodes_is_an_error_on_the_disc_node() -> None:
    report = judge(facts(management(nodes=members("disc", "ram", "ram"))), "NODE001", "NODE002")
    [finding] = report.findings
    assert (finding.rule, finding.node, finding.severity) == ("NODE002", "rabbit@n1", "error")
    assert statuses(report)[("NODE001", None)] == "pass"


def test_ram_node_on_3_13_is_a_deprecation_warning() -> None:
    report = judge(facts(management(nodes=members("disc", "disc", "ram", version="3.13.7"), version="3.13.7")),
                   "NODE003")
    [finding] = report.findings
    assert (finding.node, finding.severity) == ("rabbit@n3", "warning")
    assert "deprecated on 3.13.7" in finding.message


def test_ram_node_on_4_3_is_an_error_it_cannot_exist() -> None:
    report = judge(facts(management(nodes=members("disc", "disc", "ram", version="4.3.1"), version="4.3.1")),
                   "NODE003")
    assert [(f.node, f.severity) for f in report.findings] == [("rabbit@n3", "error")]


def test_ram_node_before_3_13_is_only_info() -> None:
    report = judge(facts(management(nodes=members("disc", "disc", "ram"))), "NODE003")
    assert [f.severity for f in report.findings] == ["info"]


def test_node_whose_type_differs_from_the_inventory_is_an_error_with_the_conversion() -> None:
    inventory = [NodeSpec(name="rabbit@n1", type="disc"), NodeSpec(name="rabbit@n2", type="disc"),
                 NodeSpec(name="rabbit@n3", type="disc")]
    report = judge(facts(management(nodes=members("disc", "disc", "ram")), inventory=inventory), "NODE004")
    [finding] = report.findings
    assert finding.node == "rabbit@n3" and "is a ram node; the inventory expects disc" in finding.message
    assert "change_cluster_node_type disc" in finding.remediation
    assert statuses(report)[("NODE004", "rabbit@n1")] == "pass"


def test_two_node_cluster_warns_that_one_loss_leaves_no_majority() -> None:
    inventory = [NodeSpec(name="rabbit@n1"), NodeSpec(name="rabbit@n2")]
    report = judge(facts(management(nodes=members("disc", "disc")), inventory=inventory), "NODE005")
    [finding] = report.findings
    assert finding.severity == "warning" and "2 nodes" in finding.message and "no majority" in finding.message


def test_four_nodes_counted_from_inventory_and_api_together() -> None:
    inventory = [NodeSpec(name="rabbit@n1"), NodeSpec(name="rabbit@new")]  # a node about to join
    report = judge(facts(management(nodes=members("disc", "disc", "disc")), inventory=inventory), "NODE005")
    assert "4 nodes" in report.findings[0].message


def test_three_disc_nodes_pass_every_node_type_check() -> None:
    inventory = [NodeSpec(name=f"rabbit@n{i}", type="disc") for i in (1, 2, 3)]
    report = judge(facts(management(nodes=members("disc", "disc", "disc")), inventory=inventory),
                   "NODE001", "NODE002", "NODE003", "NODE004", "NODE005")
    assert not report.findings
    assert set(statuses(report).values()) == {"pass"}


def test_unreadable_api_makes_node_types_unknown_with_the_reason() -> None:
    report = judge(facts(error=ProbeError(kind="auth_failed", detail="HTTP 401 — user 'x' was rejected")),
                   "NODE001")
    [finding] = report.findings
    assert finding.outcome == "unknown" and "HTTP 401" in finding.message


def test_without_management_configured_node_types_are_unknown_not_passed() -> None:
    report = judge(facts(configured=False), "NODE001")
    assert statuses(report)[("NODE001", None)] == "unknown"
    assert "[management]" in report.findings[0].message
