"""The node health columns and `/api/deprecated-features/used`, collected from a fake management API.

The 3.13 answers are built from documented shapes (the `/api/nodes` fields of docs/reference.md §9, the
deprecated-feature items of `rabbit_depr_ff_extra` at v4.2.0): the lab's 3.10.8 cannot show them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from rabbitmq_preflight.collect.management import collect_management_view
from rabbitmq_preflight.engine import run_rules
from rabbitmq_preflight.facts import Facts, InventorySummary, Origin, View
from rabbitmq_preflight.rules import rule_by_id
from tests.fakes.mgmt import Answer, FakeApi, options, serve

GiB = 1 << 30
NODES = ["rabbit@mq1", "rabbit@mq2", "rabbit@mq3"]


def node_row(name: str, **changed: Any) -> dict[str, Any]:
    row = {"name": name, "type": "disc", "running": True, "partitions": [], "mem_alarm": False,
           "disk_free_alarm": False, "mem_used": GiB, "mem_limit": 4 * GiB, "disk_free": 50 * GiB,
           "disk_free_limit": 50_000_000, "fd_used": 60, "fd_total": 65536, "sockets_used": 3,
           "sockets_total": 58893, "net_ticktime": 60, "being_drained": False,
           "applications": [{"name": "rabbit", "version": changed.pop("version", "3.13.7")}]}
    return {**row, **changed}


USED = [{"name": "classic_queue_mirroring", "desc": "Classic mirrored queues", "deprecation_phase":
         "permitted_by_default", "state": "permitted", "doc_url": "https://www.rabbitmq.com/docs/ha",
         "provided_by": "rabbit"}]


def collect(version: str, nodes: list[dict[str, Any]]) -> tuple[View, FakeApi]:
    routes: dict[str, Any] = {
        "/api/nodes": Answer.json(nodes),
        "/api/overview": Answer.json({"node": NODES[0], "rabbitmq_version": version, "erlang_version": "26.2.5"}),
        "/api/deprecated-features/used": Answer.json(USED),
    }

    async def run() -> tuple[View, FakeApi]:
        async with serve(FakeApi(routes)) as api:
            opts = options({NODES[0]: api.port})
            view = View(origin=Origin(hostname="checker", collected_at=dt.datetime.now(dt.UTC)))
            await collect_management_view(view, opts)
            return view, api

    return asyncio.run(run())


def judged(view: View, *rules: str) -> Any:
    inv = options({n: 1 for n in NODES}).inventory
    facts = Facts(tool_version="t", inventory=InventorySummary.of(inv), views=[view])
    return run_rules(facts, [rule_by_id(r) for r in rules])


def test_3_13_node_columns_and_deprecated_features_in_use_reach_the_health_rules() -> None:
    rows = [node_row(NODES[0], mem_alarm=True, mem_used=5 * GiB), node_row(NODES[1], being_drained=True),
            node_row(NODES[2], net_ticktime=120)]
    view, api = collect("3.13.7", rows)
    assert view.management is not None and view.management.value is not None
    mgmt = view.management.value
    assert mgmt.nodes is not None and mgmt.nodes.value is not None
    first = mgmt.nodes.value[0]
    assert (first.mem_used, first.mem_limit, first.fd_total, first.net_ticktime, first.being_drained) == (
        5 * GiB, 4 * GiB, 65536, 60, False)
    assert mgmt.deprecated_features is not None and mgmt.deprecated_features.value is not None
    assert [d.name for d in mgmt.deprecated_features.value] == ["classic_queue_mirroring"]
    asked = {path: query for path, query, _ in api.requests}
    assert "being_drained" in asked["/api/nodes"]["columns"] and "net_ticktime" in asked["/api/nodes"]["columns"]
    report = judged(view, "HEALTH002", "HEALTH004", "HEALTH005", "HEALTH007")
    assert sorted((f.rule, f.node) for f in report.findings) == [
        ("HEALTH002", "rabbit@mq1"), ("HEALTH004", "rabbit@mq2"), ("HEALTH005", None), ("HEALTH007", None)]


def test_3_10_is_never_asked_for_deprecated_features() -> None:
    view, api = collect("3.10.8", [node_row(n, version="3.10.8", being_drained=None) for n in NODES])
    assert "/api/deprecated-features/used" not in {path for path, _, _ in api.requests}
    assert view.management is not None and view.management.value is not None
    assert view.management.value.deprecated_features is None
    report = judged(view, "HEALTH007")
    assert [(c.rule, c.status) for c in report.checks] == [("HEALTH007", "skipped")]
