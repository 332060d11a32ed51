"""Family ha-policy, classic mirroring deprecated and removed (rules/ha_deprecation.py), from Facts fixtures."""

from __future__ import annotations

from rabbitmq_preflight.facts import Facts, Policy
from rabbitmq_preflight.inventory import ExpectSection
from tests.ha_facts import facts, judge, management, policy, queue

HA_ALL = policy("ha-all", ".*", {"ha-mode": "all", "ha-sync-mode": "automatic"}, 1)


def test_classic_mirroring_on_3_13_is_deprecated_with_the_affected_count() -> None:
    report = judge(facts(management(version="3.13.7", policies=[HA_ALL], queues=[queue("a"), queue("b")])),
                   "HA008")
    [finding] = report.findings
    assert "1 policy uses classic mirroring (ha-all), mirroring 2 queues" in finding.message
    assert "removed in 4.0" in finding.message


def test_ha_keys_on_4x_say_the_queues_are_not_replicated() -> None:
    report = judge(facts(management(version="4.0.5", policies=[HA_ALL], queues=[queue("a"), queue("b")])),
                   "HA009", "HA001", "HA002")
    [finding] = report.findings
    assert finding.rule == "HA009" and "the 2 classic queues it applies to are NOT replicated" in finding.message
    assert "clear_policy -p / ha-all" in finding.remediation


# Issue 16 item 3: no version (or "latest") in an export.

def _unversioned(policies: list[Policy], expect: str | None = None) -> Facts:
    mgmt = management(version="3.10.8", policies=policies, queues=[queue("a")], source="definitions")
    mgmt.rabbitmq_version = "latest"
    f = facts(mgmt, inventory=[])
    f.inventory.expect = ExpectSection(rabbitmq=expect)
    return f


def test_no_version_and_no_ha_key_answers_for_every_version() -> None:
    ttl = policy("ttl", ".*", {"message-ttl": 1000})
    report = judge(_unversioned([ttl]), "HA008", "HA009")
    assert report.findings == [] and {c.status for c in report.checks} == {"pass"}


def test_no_version_with_ha_keys_stays_unknown_and_says_how_to_give_one() -> None:
    report = judge(_unversioned([HA_ALL]), "HA008")
    [check] = report.checks
    assert check.status == "unknown" and "expect.rabbitmq" in (check.reason or "")


def test_expect_rabbitmq_gives_the_version_when_the_export_has_none() -> None:
    [finding] = judge(_unversioned([HA_ALL], expect="4.0"), "HA009").findings
    assert "RabbitMQ 4.0: policy 'ha-all'" in finding.message and "refuses it on import" in finding.message
    assert "the 1 classic queue it matches is NOT replicated" in finding.message


# Issue 16 item 9: HA008 counts each queue once and leaves exchange-only policies out.

def test_ha008_counts_a_queue_mirrored_by_policy_and_operator_policy_once() -> None:
    op = policy("op-ha", ".*", {"ha-mode": "exactly", "ha-params": 2})
    exchanges = policy("fed", ".*", {"ha-mode": "all"}, 5, apply_to="exchanges")
    report = judge(facts(management(version="3.12.13", policies=[HA_ALL, exchanges], operator_policies=[op],
                                    queues=[queue("a")])), "HA008")
    [finding] = report.findings
    assert "mirroring 1 queue " in finding.message and "fed" not in finding.message
