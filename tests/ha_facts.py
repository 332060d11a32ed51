"""Facts with management-API content, for node-type and HA rule tests (no network)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from rabbitmq_preflight.engine import run_rules
from rabbitmq_preflight.facts import (
    ClusterNode,
    Facts,
    InventorySummary,
    ManagementFacts,
    Observation,
    Origin,
    Policy,
    ProbeError,
    QueueRow,
    QueueTable,
    View,
)
from rabbitmq_preflight.inventory import ExpectSection, NodeSpec
from rabbitmq_preflight.report import Report
from rabbitmq_preflight.rules import rule_by_id

NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
THREE = ["rabbit@a", "rabbit@b", "rabbit@c"]


def policy(name: str, pattern: str, definition: dict[str, Any], priority: int = 0, vhost: str = "/",
           apply_to: str = "all") -> Policy:
    return Policy(vhost=vhost, name=name, pattern=pattern, definition=definition, priority=priority,
                  apply_to=apply_to)


def queue(name: str, vhost: str = "/", qtype: str = "classic", **fields: Any) -> QueueRow:
    return QueueRow(vhost=vhost, name=name, type=qtype, **fields)


def management(
    *, version: str = "3.10.8", nodes: list[ClusterNode] | None = None, policies: list[Policy] | None = None,
    operator_policies: list[Policy] | None = None, queues: list[QueueRow] | None = None,
    source: Literal["api", "definitions"] = "api",
) -> ManagementFacts:
    members = nodes if nodes is not None else [
        ClusterNode(name=n, type="disc", running=True, rabbitmq_version=version) for n in THREE
    ]
    return ManagementFacts(
        source=source, answered_by=members[0].name if members else "file",
        rabbitmq_version=version,
        nodes=Observation(value=members) if source == "api" else None,
        policies=Observation(value=policies or []),
        operator_policies=Observation(value=operator_policies or []),
        queues=Observation(value=QueueTable(rows=queues or [])),
    )


def facts(mgmt: ManagementFacts | None = None, *, inventory: list[NodeSpec] | None = None,
          replicated: list[str] | None = None, error: ProbeError | None = None,
          configured: bool = True) -> Facts:
    specs = inventory if inventory is not None else [NodeSpec(name=n) for n in THREE]
    summary = InventorySummary(cluster="test", source="inventory.toml", nodes=specs,
                               expect=ExpectSection(replicated=replicated or []), management_configured=configured)
    obs = None
    if mgmt is not None:
        obs = Observation[ManagementFacts](value=mgmt)
    elif error is not None:
        obs = Observation[ManagementFacts](error=error)
    view = View(origin=Origin(hostname="checker", collected_at=NOW), management=obs)
    return Facts(tool_version="test", inventory=summary, views=[view])


def judge(f: Facts, *rule_ids: str) -> Report:
    return run_rules(f, [rule_by_id(r) for r in rule_ids])


def statuses(report: Report) -> dict[tuple[str, str | None], str]:
    return {(c.rule, c.node): c.status for c in report.checks}
