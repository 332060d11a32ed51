"""Full collection against hostile AMQP peers: typed outcomes, the right finding, bounded time."""

from __future__ import annotations

import asyncio

from rabbitmq_preflight.collect import collect_view
from rabbitmq_preflight.collect.options import CollectOptions
from rabbitmq_preflight.engine import run_rules
from rabbitmq_preflight.facts import Facts, InventorySummary, View
from rabbitmq_preflight.inventory import inventory_from_names
from rabbitmq_preflight.rules import rule_by_id
from tests.fakes.erlang import replies, serve, silent

HTTP_REPLY = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"


async def _collect(amqp_ports: dict[str, int], timeout: float) -> View:
    inv = inventory_from_names(list(amqp_ports))
    nodes = [n.model_copy(update={"address": "127.0.0.1", "amqp_port": amqp_ports[n.name], "epmd_port": 9})
             for n in inv.nodes]
    inv = inv.model_copy(update={"nodes": nodes})
    return await collect_view(inv, CollectOptions.of(inv, timeout=timeout, deadline=10.0, no_handshake=True))


async def _against_fakes(timeout: float) -> View:
    async with serve(silent) as quiet, serve(replies(HTTP_REPLY)) as http, serve(replies(b"\x00" * 7)) as zeros:
        return await _collect({"rabbit@silent": quiet, "rabbit@http": http, "rabbit@zeros": zeros}, timeout)


def test_silent_http_and_garbage_peers_each_get_a_typed_outcome() -> None:
    view = asyncio.run(_against_fakes(timeout=0.5))
    silent_node, http_node, zeros_node = (view.nodes[n] for n in ("rabbit@silent", "rabbit@http", "rabbit@zeros"))
    assert silent_node.amqp is not None and silent_node.amqp.error is not None
    assert silent_node.amqp.error.kind == "timeout"
    assert silent_node.ports["amqp"].status == "open" and silent_node.ports["amqp"].speaks_protocol is False
    assert http_node.amqp is not None and http_node.amqp.error is not None
    assert http_node.amqp.error.kind == "bad_reply"
    assert http_node.amqp.error.detail == "an HTTP server answered on the AMQP port"
    assert zeros_node.amqp is not None and zeros_node.amqp.error is not None
    assert zeros_node.amqp.error.kind == "bad_reply"
    assert not view.origin.deadline_reached


def test_wrong_protocol_on_the_amqp_port_is_reported_as_such() -> None:
    view = asyncio.run(_against_fakes(timeout=0.5))
    inv = inventory_from_names(list(view.nodes))
    facts = Facts(tool_version="t", inventory=InventorySummary.of(inv), views=[view])
    report = run_rules(facts, [rule_by_id("PORT004"), rule_by_id("VER001")])
    wrong = {f.node: f.message for f in report.findings if f.rule == "PORT004"}
    assert "does not speak AMQP: an HTTP server answered" in wrong["rabbit@http"]
    assert "sent nothing back" in wrong["rabbit@silent"]
    assert {c.node for c in report.checks if c.rule == "VER001" and c.status == "unknown"} == set(view.nodes)
