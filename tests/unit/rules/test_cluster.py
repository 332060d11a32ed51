"""Run-level rules: a crashing collector and a reached deadline are findings, not silence."""

from __future__ import annotations

import asyncio

from rabbitmq_preflight.collect import NODE_COLLECTORS, NodeCollector, collect_view
from rabbitmq_preflight.collect.options import CollectOptions
from rabbitmq_preflight.engine import run_rules
from rabbitmq_preflight.facts import NodeFacts
from rabbitmq_preflight.inventory import NodeSpec, inventory_from_names
from rabbitmq_preflight.rules import rule_by_id
from tests.factories import facts, node


async def _broken(spec: NodeSpec, nf: NodeFacts, opts: CollectOptions) -> None:
    raise KeyError("secret-looking detail")


def test_a_crashing_collector_is_recorded_and_the_others_still_run() -> None:
    inv = inventory_from_names(["rabbit@localhost"])
    inv = inv.model_copy(update={"nodes": [inv.nodes[0].model_copy(update={"address": "127.0.0.1", "amqp_port": 9,
                                                                           "epmd_port": 9})]})
    collectors: list[NodeCollector] = list(NODE_COLLECTORS)
    NODE_COLLECTORS.append(_broken)
    try:
        view = asyncio.run(collect_view(inv, CollectOptions.of(inv, timeout=0.5, deadline=5, no_handshake=True)))
    finally:
        NODE_COLLECTORS[:] = collectors
    assert view.origin.collector_errors == ["_broken (rabbit@localhost): KeyError"]
    assert view.nodes["rabbit@localhost"].ports["amqp"].status == "refused"  # the other collectors ran


def test_collector_failure_and_deadline_are_reported() -> None:
    f = facts(node("rabbit@a"))
    f.views[0].origin.collector_errors = ["collect_amqp (rabbit@a): KeyError"]
    f.views[0].origin.deadline_reached = True
    report = run_rules(f, [rule_by_id("RUN001"), rule_by_id("RUN002")])
    assert [(x.rule, x.severity) for x in report.findings] == [("RUN001", "error"), ("RUN002", "warning")]
    assert "collect_amqp (rabbit@a): KeyError" in report.findings[0].message


def test_management_api_answering_401_is_a_finding_with_the_credentials_fix() -> None:
    from rabbitmq_preflight.facts import MgmtOverview, Observation, ProbeError

    f = facts(node("rabbit@a"), node("rabbit@b"))
    f.views[0].nodes["rabbit@a"].management = Observation[MgmtOverview](
        error=ProbeError(kind="auth_failed", detail="rabbit@a management API /api/overview: HTTP 401 — user rejected"))
    f.views[0].nodes["rabbit@b"].management = Observation[MgmtOverview](value=MgmtOverview(node="rabbit@b"))
    report = run_rules(f, [rule_by_id("RUN003")])
    [finding] = report.findings
    assert finding.node == "rabbit@a" and "HTTP 401" in finding.message
    assert "authenticate_user" in finding.remediation
    assert {c.node: c.status for c in report.checks} == {"rabbit@a": "fail", "rabbit@b": "pass"}
