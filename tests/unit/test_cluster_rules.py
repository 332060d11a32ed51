"""Run-level rules: a crashing collector and a reached deadline are findings, not silence."""

from __future__ import annotations

import asyncio

from preflight.collect import NODE_COLLECTORS, CollectOptions, NodeCollector, collect_view
from preflight.engine import REGISTRY, all_rules, run_rules
from preflight.facts import NodeFacts
from preflight.inventory import NodeSpec, inventory_from_names
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
    all_rules()
    report = run_rules(f, [REGISTRY["RUN001"], REGISTRY["RUN002"]])
    assert [(x.rule, x.severity) for x in report.findings] == [("RUN001", "error"), ("RUN002", "warning")]
    assert "collect_amqp (rabbit@a): KeyError" in report.findings[0].message


def test_management_api_answering_401_is_a_finding_with_the_credentials_fix() -> None:
    from preflight.facts import MgmtOverview, Observation, ProbeError

    f = facts(node("rabbit@a"), node("rabbit@b"))
    f.views[0].nodes["rabbit@a"].management = Observation[MgmtOverview](
        error=ProbeError(kind="auth_failed", detail="rabbit@a management API /api/overview: HTTP 401 — user rejected"))
    f.views[0].nodes["rabbit@b"].management = Observation[MgmtOverview](value=MgmtOverview(node="rabbit@b"))
    all_rules()
    report = run_rules(f, [REGISTRY["RUN003"]])
    [finding] = report.findings
    assert finding.node == "rabbit@a" and "HTTP 401" in finding.message
    assert "authenticate_user" in finding.remediation
    assert {c.node: c.status for c in report.checks} == {"rabbit@a": "fail", "rabbit@b": "pass"}
