"""Family ha-policy, mirroring policy settings and mirror state (rules/ha_mirroring.py), from Facts fixtures."""

from __future__ import annotations

from tests.ha_facts import facts, judge, management, policy, queue

HA_ALL = policy("ha-all", ".*", {"ha-mode": "all", "ha-sync-mode": "automatic"}, 1)


def test_ha_params_one_means_no_mirror() -> None:
    one = policy("ha-one", ".*", {"ha-mode": "exactly", "ha-params": 1}, 1)
    report = judge(facts(management(policies=[one])), "HA004")
    [finding] = report.findings
    assert finding.severity == "error" and "keeps only the leader" in finding.message
    assert '"ha-params":2' in finding.remediation


def test_ha_params_above_cluster_size_is_a_warning() -> None:
    five = policy("ha-five", ".*", {"ha-mode": "exactly", "ha-params": 5}, 1)
    [finding] = judge(facts(management(policies=[five])), "HA004").findings
    assert finding.severity == "warning" and "3 cluster nodes" in finding.message


def test_ha_mode_nodes_naming_unknown_nodes_is_reported() -> None:
    nodes = policy("ha-nodes", ".*", {"ha-mode": "nodes", "ha-params": ["rabbit@a", "rabbit@zz"]}, 1)
    [finding] = judge(facts(management(policies=[nodes])), "HA004").findings
    assert "rabbit@zz" in finding.message and finding.severity == "error"


def test_unsynchronised_mirrors_are_counted_per_vhost() -> None:
    rows = [queue(f"q{i}", node="rabbit@a", mirrors=["rabbit@b", "rabbit@c"], synchronised=["rabbit@b"])
            for i in range(4)] + [queue("ok", node="rabbit@a", mirrors=["rabbit@b"], synchronised=["rabbit@b"])]
    [finding] = judge(facts(management(policies=[HA_ALL], queues=rows)), "HA005").findings
    assert "4 mirrored queues have unsynchronised mirrors" in finding.message
    assert "rabbitmqctl sync_queue -p / q0" in finding.remediation


def test_manual_sync_mode_by_default_is_flagged_with_the_fixed_policy() -> None:
    manual = policy("ha-all", ".*", {"ha-mode": "all"}, 1)
    [finding] = judge(facts(management(policies=[manual])), "HA006").findings
    assert "default, manual" in finding.message and '"ha-sync-mode":"automatic"' in finding.remediation


def test_promote_on_failure_always_may_lose_messages() -> None:
    always = policy("ha-all", ".*", {"ha-mode": "all", "ha-promote-on-failure": "always"}, 1)
    [finding] = judge(facts(management(policies=[always])), "HA007").findings
    assert "ha-promote-on-failure: always" in finding.message and "when-synced" in finding.remediation


def test_ha006_is_silent_where_ha004_says_there_is_no_mirror_issue_16_9() -> None:
    """`ha-params: 1` keeps the leader alone: HA004's fix (more mirrors) stands; HA006 must not add a
    second, contradicting fix that keeps ha-params 1."""
    one = policy("ha1", ".*", {"ha-mode": "exactly", "ha-params": 1}, 1)
    report = judge(facts(management(policies=[one], queues=[queue("a")])), "HA004", "HA006")
    assert [f.rule for f in report.findings] == ["HA004"]
