"""Request planning: within one run each management API GET goes to a node once, whoever asks it."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter
from typing import Any

from rabbitmq_preflight.collect.management import collect_management_node, collect_management_view, discover
from rabbitmq_preflight.facts import NodeFacts, Origin, View
from tests.fakes.mgmt import Answer, FakeApi, options, paged_queues, serve

NODE = "rabbit@fake"
OVERVIEW = {"node": NODE, "rabbitmq_version": "3.10.8", "erlang_version": "25.2.3", "listeners": []}
NODES = [{"name": NODE, "type": "disc", "running": True}]


def test_discovery_cluster_view_and_node_overview_share_each_get() -> None:
    async def run() -> tuple[Counter[str], View, NodeFacts]:
        routes: dict[str, Any] = {
            "/api/overview": Answer.json(OVERVIEW), "/api/nodes": Answer.json(NODES),
            "/api/feature-flags": Answer.json([]), "/api/global-parameters": Answer.json([]),
            "/api/policies": Answer.json([]), "/api/operator-policies": Answer.json([]),
            "/api/queues": paged_queues([]),
        }
        async with serve(FakeApi(routes)) as api:
            opts = options({NODE: api.port})
            spec = opts.inventory.nodes[0]
            view = View(origin=Origin(hostname="h", collected_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC)))
            node = NodeFacts(name=NODE, target="127.0.0.1")
            await asyncio.gather(discover(opts.inventory, opts), collect_management_view(view, opts),
                                 collect_management_node(spec, node, opts))
            return Counter(path for path, _, _ in api.requests), view, node

    asked, view, node = asyncio.run(run())
    assert asked["/api/overview"] == 1 and asked["/api/nodes"] == 1, asked
    assert all(n == 1 for n in asked.values()), asked
    assert view.management is not None and view.management.value is not None
    assert view.management.value.rabbitmq_version == "3.10.8"
    assert node.management is not None and node.management.ok
    assert node.ports["management"].status == "open"


def test_a_failed_get_is_shared_too_and_keeps_its_type() -> None:
    async def run() -> tuple[Counter[str], View, NodeFacts]:
        routes: dict[str, Any] = {"/api/overview": Answer.json({"error": "not_authorised"}, 401),
                                  "/api/nodes": Answer.json({"error": "not_authorised"}, 401)}
        async with serve(FakeApi(routes)) as api:
            opts = options({NODE: api.port})
            view = View(origin=Origin(hostname="h", collected_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC)))
            node = NodeFacts(name=NODE, target="127.0.0.1")
            await asyncio.gather(discover(opts.inventory, opts), collect_management_view(view, opts),
                                 collect_management_node(opts.inventory.nodes[0], node, opts))
            return Counter(path for path, _, _ in api.requests), view, node

    asked, view, node = asyncio.run(run())
    assert asked == Counter({"/api/overview": 1, "/api/nodes": 1})
    assert view.management is not None and view.management.error is not None
    assert view.management.error.kind == "auth_failed"
    assert node.management is not None and node.management.error is not None
    assert node.management.error.kind == "auth_failed"
    assert node.ports["management"].speaks_protocol is True  # the API answered (401): the port is HTTP
