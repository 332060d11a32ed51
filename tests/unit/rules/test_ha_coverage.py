"""Family ha-policy, which policy applies (rules/ha_coverage.py): coverage, shadows, ties, expectations,
undecidable patterns — from Facts fixtures."""

from __future__ import annotations

from rabbitmq_preflight.facts import ClusterNode
from tests.ha_facts import THREE, facts, judge, management, policy, queue, statuses

HA_ALL = policy("ha-all", ".*", {"ha-mode": "all", "ha-sync-mode": "automatic"}, 1)
TTL = policy("ttl-orders", r"^orders\.", {"message-ttl": 60000}, 10)


def test_shadowed_ha_policy_reports_the_higher_priority_policy_and_the_exact_count() -> None:
    queues = [queue(f"orders.{i}") for i in range(7)] + [queue(f"billing.{i}") for i in range(3)]
    report = judge(facts(management(policies=[HA_ALL, TTL], queues=queues)), "HA002", "HA001")
    [finding] = report.findings
    assert finding.rule == "HA002"
    assert "policy 'ttl-orders' (priority 10) shadows mirroring policy 'ha-all' (priority 1) on 7 classic" \
        in finding.message
    assert finding.evidence["queues"] == 7
    assert "set_policy -p / ttl-orders '^orders\\.' '{\"ha-mode\":\"all\",\"ha-sync-mode\":\"automatic\"," \
        "\"message-ttl\":60000}' --priority 10" in finding.remediation
    assert statuses(report)[("HA001", None)] == "pass"  # shadowed queues are HA002's, not counted twice


def test_unmirrored_classic_queues_are_aggregated_per_vhost_and_prefix() -> None:
    queues = ([queue(f"orders.{i}") for i in range(1500)] + [queue(f"tmp-{i}") for i in range(20)]
              + [queue("excl", exclusive=True), queue("qq", qtype="quorum")])
    report = judge(facts(management(queues=queues)), "HA001")
    [finding] = report.findings
    assert finding.subject == "vhost:/"
    assert "1,520 of 1,520 classic queues are not mirrored" in finding.message
    assert "'orders.*' 1,500 (e.g. orders.0, orders.1, orders.2)" in finding.message
    assert [g["prefix"] for g in finding.evidence["groups"]] == ["orders.", "tmp-"]
    assert "set_policy -p / ha-orders '^orders\\.'" in finding.remediation


def test_exclusive_queue_matching_ha_all_is_never_counted_as_mirrored_or_missing() -> None:
    report = judge(facts(management(policies=[HA_ALL], queues=[queue("amq.gen-1", exclusive=True)])), "HA001")
    assert not report.findings and statuses(report)[("HA001", None)] == "pass"


def test_equal_priority_policies_on_the_same_queues_are_a_tie_warning() -> None:
    twin = policy("limits", r"^orders\.", {"max-length": 5}, 1)
    report = judge(facts(management(policies=[HA_ALL, twin], queues=[queue("orders.1"), queue("orders.2")])),
                   "HA003")
    [finding] = report.findings
    assert finding.severity == "warning" and "2 queues" in finding.message
    assert "only ha-all mirrors, so mirroring is left to chance" in finding.message


def test_expected_pattern_without_queues_checks_a_hypothetical_queue() -> None:
    report = judge(facts(management(policies=[HA_ALL, TTL]), replicated=[r"^orders\."]), "HA012")
    [finding] = report.findings
    assert "a classic queue named 'orders.x' would not be replicated" in finding.message


def test_expected_pattern_with_unreplicated_queues_counts_them() -> None:
    rows = [queue("orders.1"), queue("orders.2", qtype="quorum", members=THREE, online=THREE)]
    [finding] = judge(facts(management(queues=rows), replicated=[r"^orders\."]), "HA012").findings
    assert "1 of the queues matching '^orders\\\\.' are not replicated (e.g. orders.1)" in finding.message


def test_untranslatable_pattern_is_reported_and_its_queues_stay_unjudged() -> None:
    odd = policy("odd", r"^(a)\1", {"ha-mode": "all"}, 1)
    report = judge(facts(management(policies=[odd], queues=[queue("aa"), queue("b")])), "HA013", "HA001")
    by_rule = {f.rule: f for f in report.findings}
    assert "cannot be evaluated (backreferences are not supported); coverage of 2 queues" in by_rule["HA013"].message
    assert "HA001" not in by_rule  # undecidable queues are neither covered nor uncovered


def test_single_node_cluster_skips_mirroring_coverage() -> None:
    solo = [ClusterNode(name="rabbit@a", type="disc", running=True, rabbitmq_version="3.10.8")]
    from rabbitmq_preflight.inventory import NodeSpec

    report = judge(facts(management(nodes=solo, queues=[queue("a")]), inventory=[NodeSpec(name="rabbit@a")]),
                   "HA001")
    assert statuses(report)[("HA001", None)] == "skipped"


def test_tie_between_a_mirroring_and_a_plain_policy_is_left_to_the_tie_rule() -> None:
    plain = policy("plain", r"^tie\.", {"max-length": 5}, 20)
    mirror = policy("mirror", r"^tie\.", {"ha-mode": "all"}, 20)
    report = judge(facts(management(policies=[HA_ALL, plain, mirror], queues=[queue("tie.1")])),
                   "HA001", "HA002", "HA003")
    assert [f.rule for f in report.findings] == ["HA003"]


def test_quorum_queue_is_not_matched_by_ha_all_and_falls_to_the_next_policy() -> None:
    limit = policy("limit", ".*", {"max-length": 1000}, 0)
    report = judge(facts(management(policies=[HA_ALL, limit], queues=[queue("qq", qtype="quorum",
                                                                            members=THREE, online=THREE)])),
                   "HA001", "HA002", "HA010")
    assert not report.findings


def test_coverage_of_a_definitions_source_is_judged_without_live_state() -> None:
    mgmt = management(source="definitions", policies=[HA_ALL, TTL], queues=[queue("orders.1"), queue("x")])
    report = judge(facts(mgmt, inventory=[]), "HA002", "HA005", "HA011", "NODE001")
    assert [f.rule for f in report.findings] == ["HA002"]
    assert statuses(report)[("HA005", None)] == "skipped" and statuses(report)[("NODE001", None)] == "skipped"
