"""Family ha-policy, classic mirroring deprecated and removed (rules/ha_deprecation.py), from Facts fixtures."""

from __future__ import annotations

from tests.ha_facts import facts, judge, management, policy, queue

HA_ALL = policy("ha-all", ".*", {"ha-mode": "all", "ha-sync-mode": "automatic"}, 1)


def test_classic_mirroring_on_3_13_is_deprecated_with_the_affected_count() -> None:
    report = judge(facts(management(version="3.13.7", policies=[HA_ALL], queues=[queue("a"), queue("b")])),
                   "HA008")
    [finding] = report.findings
    assert "covering 2 queues" in finding.message and "removed in 4.0" in finding.message


def test_ha_keys_on_4x_say_the_queues_are_not_replicated() -> None:
    report = judge(facts(management(version="4.0.5", policies=[HA_ALL], queues=[queue("a"), queue("b")])),
                   "HA009", "HA001", "HA002")
    [finding] = report.findings
    assert finding.rule == "HA009" and "these 2 queues are NOT replicated" in finding.message
    assert "clear_policy -p / ha-all" in finding.remediation
