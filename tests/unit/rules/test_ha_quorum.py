"""Family ha-policy, quorum queue members and majorities (rules/ha_quorum.py), from Facts fixtures."""

from __future__ import annotations

from tests.ha_facts import THREE, facts, judge, management, queue, statuses


def test_quorum_queue_with_one_member_in_three_nodes_is_under_replicated() -> None:
    rows = [queue("qq1", qtype="quorum", members=["rabbit@a"], online=["rabbit@a"]),
            queue("qq3", qtype="quorum", members=THREE, online=THREE)]
    [finding] = judge(facts(management(queues=rows)), "HA010").findings
    assert "1 quorum queue has 1 member in a 3-node cluster" in finding.message


def test_quorum_queue_with_an_offline_member_makes_the_others_quorum_critical() -> None:
    row = queue("qq", qtype="quorum", members=THREE, online=["rabbit@a", "rabbit@b"])
    report = judge(facts(management(queues=[row])), "HA010", "HA011")
    by_rule = {(f.rule, f.node): f for f in report.findings}
    assert by_rule[("HA010", None)].severity == "warning"
    assert "rabbit@a is quorum-critical for 1 quorum queues" in by_rule[("HA011", "rabbit@a")].message
    assert ("HA011", "rabbit@b") in by_rule and statuses(report)[("HA011", "rabbit@c")] == "pass"


def test_node_name_from_the_api_is_shell_quoted_in_the_quorum_critical_command() -> None:
    evil = "rabbit@a;reboot"
    row = queue("qq", qtype="quorum", members=[evil, "rabbit@b", "rabbit@c"], online=[evil, "rabbit@b"])
    report = judge(facts(management(queues=[row])), "HA011")
    [finding] = [f for f in report.findings if f.node == evil]
    assert "rabbitmq-diagnostics -n 'rabbit@a;reboot' check_if_node_is_quorum_critical" in finding.remediation
