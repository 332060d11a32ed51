"""Membership rules from facts: who is in which cluster, in each node's own eyes, and the joining moment."""

from __future__ import annotations

from rabbitmq_preflight.engine import run_rules
from rabbitmq_preflight.facts import Facts, Membership, NodeContents, NodeFacts, Observation, ProbeError
from rabbitmq_preflight.inventory import NodeSpec
from rabbitmq_preflight.report import Report
from rabbitmq_preflight.rules import rule_by_id
from tests.factories import facts, node

A, B, C, D, E = (f"rabbit@r{i}" for i in range(1, 6))


def member_of(n: NodeFacts, *members: str, running: tuple[str, ...] | None = None) -> NodeFacts:
    view = Membership(members=sorted(members), running=sorted(running if running is not None else members))
    return n.model_copy(update={"membership": Observation[Membership](value=view, latency_ms=1.0)})


def cluster(*groups: tuple[str, ...], joins: dict[str, str] | None = None,
            contents: dict[str, NodeContents] | None = None) -> Facts:
    nodes = []
    for group in groups:
        for name in group:
            n = member_of(node(name), *group)
            if contents and name in contents:
                n = n.model_copy(update={"contents": Observation[NodeContents](value=contents[name])})
            nodes.append(n)
    f = facts(*nodes)
    specs = [NodeSpec(name=n.name, join=(joins or {}).get(n.name)) for n in nodes]
    return f.model_copy(update={"inventory": f.inventory.model_copy(
        update={"nodes": specs, "management_configured": True})})


def judge(f: Facts, *ids: str) -> Report:
    return run_rules(f, [rule_by_id(i) for i in ids])


def status(report: Report, rule: str) -> dict[str | None, str]:
    return {c.node: c.status for c in report.checks if c.rule == rule}


def test_one_cluster_of_every_inventory_node_passes() -> None:
    report = judge(cluster((A, B, C)), "MEMBER001", "MEMBER002", "MEMBER003")
    assert report.findings == []
    assert status(report, "MEMBER001") == {A: "pass", B: "pass", C: "pass"}


def test_a_standalone_node_in_an_audit_is_an_error_with_the_join_commands() -> None:
    report = judge(cluster((A, B, C), (D,)), "MEMBER001")
    [f] = report.findings
    assert (f.rule, f.node, f.severity) == ("MEMBER001", D, "error")
    assert f.message == (f"{D} runs as its own cluster (its members: {D}); its peers {A}, {B}, {C} form another")
    assert "rabbitmqctl join_cluster rabbit@r1" in f.remediation and f.remediation.startswith("On r4:")


def test_a_node_about_to_join_is_the_plan_not_a_finding() -> None:
    report = judge(cluster((A, B, C), (D,), joins={D: A}), "MEMBER001", "MEMBER002")
    assert report.findings == []
    assert status(report, "MEMBER001")[D] == "skipped"


def test_two_multi_node_clusters_are_critical_and_named() -> None:
    report = judge(cluster((A, B, C), (D, E)), "MEMBER001", "MEMBER002")
    [f] = report.findings
    assert (f.rule, f.severity, f.node) == ("MEMBER002", "critical", None)
    assert f.message == f"the inventory's nodes form 2 separate clusters: {{{A}, {B}, {C}}}; {{{D}, {E}}}"
    assert status(report, "MEMBER001")[D] == "skipped"  # reported once, as the split


def test_a_member_list_one_side_does_not_share_is_a_disagreement() -> None:
    f = cluster((A, B))
    view = f.views[0]
    view.nodes[B] = member_of(view.nodes[B], B)  # B was reset; A still lists it
    report = judge(f, "MEMBER003")
    [finding] = report.findings
    assert (finding.node, finding.rule) == (A, "MEMBER003")
    assert f"{A} lists {B} as a cluster member, but {B} does not list {A}" in finding.message


def test_an_unobserved_member_list_is_unknown_with_the_reason() -> None:
    f = cluster((A, B))
    failed = Observation[Membership](error=ProbeError(kind="auth_failed", detail="HTTP 401"))
    f.views[0].nodes[B] = f.views[0].nodes[B].model_copy(update={"membership": failed})
    report = judge(f, "MEMBER001")
    assert status(report, "MEMBER001") == {A: "pass", B: "unknown"}
    [unknown] = report.findings
    assert "HTTP 401" in unknown.message


def test_reset_warning_counts_what_the_joining_node_holds() -> None:
    held = NodeContents(vhosts=["/", "orders"], users=["app-user", "guest"], policies=1, queues=2,
                        messages_ready=6, messages_unacknowledged=1, queues_counted=2)
    report = judge(cluster((A, B, C), (D,), joins={D: A}, contents={D: held}), "MEMBER004")
    [f] = report.findings
    assert (f.node, f.severity) == (D, "warning")
    assert f.message.endswith("which deletes 1 vhost (orders); 1 user (app-user); 1 policy; "
                              "2 queues holding 7 messages (6 ready, 1 unacknowledged)")
    assert "rabbitmqctl export_definitions /tmp/r4-definitions.json" in f.remediation


def test_an_empty_joining_node_loses_nothing_to_reset() -> None:
    empty = NodeContents(vhosts=["/"], users=["guest"])
    report = judge(cluster((A, B), (D,), joins={D: A}, contents={D: empty}), "MEMBER004")
    assert report.findings == [] and status(report, "MEMBER004") == {D: "pass"}


def test_a_joining_node_that_is_in_another_cluster_leaves_it() -> None:
    report = judge(cluster((A, B, C), (D, E), joins={D: A}), "MEMBER005")
    [f] = report.findings
    assert f.node == D and f"`reset` makes it leave it before joining {A}" in f.message
