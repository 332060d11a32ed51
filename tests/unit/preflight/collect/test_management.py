"""The management API probe against an in-process fake: typed outcomes, limits, paging, discovery."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from rabbitmq_preflight.collect.management import (
    ManagementApi,
    QueueFetch,
    collect_management_node,
    collect_management_view,
    decode_json,
    discover,
    open_api,
)
from rabbitmq_preflight.collect.management_json import (
    parse_cluster_id,
    parse_feature_flags,
    parse_node_names,
    parse_nodes,
    parse_overview,
    parse_policies,
    parse_queue_page,
)
from rabbitmq_preflight.engine import run_rules
from rabbitmq_preflight.facts import Facts, InventorySummary, NodeFacts, Origin, View
from rabbitmq_preflight.outcomes import BadReply, NotFound, ProbeFailure
from rabbitmq_preflight.rules import rule_by_id
from tests.fakes.mgmt import PASSWORD, Answer, FakeApi, options, paged_queues, serve

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"
NODE = "rabbit@fake"


async def _get(api: FakeApi, path: str, timeout: float = 1.0, max_body: int | None = None) -> Any:
    opts = options({NODE: api.port}, timeout=timeout)
    async with open_api(opts.inventory.nodes[0], opts) as client:
        if max_body is not None:
            client.max_body = max_body
        return await client.get_json(path)


def _failure(answer: Answer, path: str = "/api/nodes", **kw: Any) -> ProbeFailure:
    async def run() -> ProbeFailure:
        async with serve(FakeApi({path: answer})) as api:
            try:
                await _get(api, path, **kw)
            except ProbeFailure as failure:
                return failure
        raise AssertionError("no failure")

    return asyncio.run(run())


def test_rejected_credentials_name_the_user_never_the_password() -> None:
    failure = _failure(Answer.json({"error": "not_authorised", "reason": "Login failed"}, 401))
    assert failure.kind == "auth_failed"
    assert "'monitor'" in failure.detail and PASSWORD not in failure.detail


def test_forbidden_feature_flags_say_which_tag_is_needed() -> None:
    failure = _failure(Answer.json({"error": "not_authorised"}, 403), "/api/feature-flags")
    assert failure.kind == "forbidden" and "administrator" in failure.detail


def test_missing_endpoint_is_not_found_with_the_plugin_hint() -> None:
    failure = _failure(Answer(status=404, body=b"Not Found", content_type="text/html"))
    assert failure.kind == "not_found" and "management plugin" in failure.detail


def test_server_error_is_an_http_error_carrying_the_reason() -> None:
    failure = _failure(Answer.json({"error": "internal_error", "reason": "badarg in rabbit_mgmt_db"}, 500))
    assert failure.kind == "http_error" and "HTTP 500: badarg in rabbit_mgmt_db" in failure.detail


def test_html_page_instead_of_json_is_a_bad_reply() -> None:
    failure = _failure(Answer(body=b"<!DOCTYPE html><html><body>proxy login</body></html>", content_type="text/html"))
    assert failure.kind == "bad_reply" and "HTML page" in failure.detail


def test_truncated_json_is_a_bad_reply_saying_it_ends_early() -> None:
    failure = _failure(Answer(body=b'[{"name":"rabbit@a","type":"disc"},{"name":"rab', truncate_to=None))
    assert failure.kind == "bad_reply" and "ends early" in failure.detail


def test_connection_closed_before_the_announced_length_is_a_typed_failure() -> None:
    failure = _failure(Answer(body=b'[{"name":"rabbit@a"}]' * 10, truncate_to=15))
    assert failure.kind in ("bad_reply", "closed", "error") and NODE in failure.detail


def test_huge_body_is_refused_without_reading_it_all() -> None:
    t0 = time.perf_counter()
    failure = _failure(Answer(huge=200 << 20), max_body=1 << 20)
    assert failure.kind == "bad_reply" and "1048576-byte limit" in failure.detail
    assert time.perf_counter() - t0 < 5


def test_silent_api_times_out_once_with_the_port_open_but_not_speaking_http() -> None:
    async def run() -> NodeFacts:
        async with serve(FakeApi({"/api/overview": Answer(silent=True)})) as api:
            opts = options({NODE: api.port}, timeout=0.3)
            facts = NodeFacts(name=NODE, target="127.0.0.1")
            await collect_management_node(opts.inventory.nodes[0], facts, opts)
            return facts

    facts = asyncio.run(run())
    check = facts.ports["management"]
    assert facts.management is not None and facts.management.error is not None
    assert facts.management.error.kind == "timeout"
    assert check.status == "open" and check.speaks_protocol is False


def test_closed_management_port_is_refused_and_the_port_check_says_so() -> None:
    async def run() -> NodeFacts:
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        server.close()
        await server.wait_closed()
        opts = options({NODE: port})
        facts = NodeFacts(name=NODE, target="127.0.0.1")
        await collect_management_node(opts.inventory.nodes[0], facts, opts)
        return facts

    facts = asyncio.run(run())
    assert facts.ports["management"].status == "refused"
    assert facts.management is not None and facts.management.error is not None
    assert facts.management.error.kind == "refused"


def test_basic_auth_is_sent_as_a_header_not_in_the_url() -> None:
    async def run() -> FakeApi:
        async with serve(FakeApi({"/api/nodes": Answer.json([])})) as api:
            await _get(api, "/api/nodes")
            return api

    api = asyncio.run(run())
    path, query, auth = api.requests[0]
    assert auth == "Basic " + base64.b64encode(f"monitor:{PASSWORD}".encode()).decode()
    assert PASSWORD not in path + json.dumps(query)


def _rows(n: int) -> list[dict[str, Any]]:
    return [{"name": f"q{i:05}", "vhost": "/", "type": "classic", "durable": True, "node": "rabbit@a"}
            for i in range(n)]


def test_queues_are_fetched_in_pages_of_500_concurrently_and_all_arrive_once() -> None:
    async def run() -> tuple[Any, FakeApi]:
        async with serve(FakeApi({"/api/queues": paged_queues(_rows(1234))})) as api:
            opts = options({NODE: api.port})
            async with open_api(opts.inventory.nodes[0], opts) as client:
                return await QueueFetch(client).run(), api

    table, api = asyncio.run(run())
    assert len(table.rows) == 1234 and len({r.name for r in table.rows}) == 1234
    assert table.pages == 3 and table.total_count == 1234
    assert {q["page_size"] for _, q, _ in api.requests} == {"500"}
    assert sorted(q["page"] for _, q, _ in api.requests) == ["1", "2", "3"]


def _answers_4x() -> dict[str, Answer]:
    data = json.loads((FIXTURES / "mgmt_4x_answers.json").read_text())
    routes = {path: Answer.json(body) for path, body in data.items() if path.startswith("/")}
    routes["/api/queues"] = paged_queues(data["/api/queues"])  # type: ignore[assignment]
    return routes


def _view_from(api: FakeApi) -> View:
    async def run() -> View:
        opts = options({"rabbit@mq1": api.port})
        view = View(origin=Origin(hostname="checker", collected_at=__import__("datetime").datetime.now()))
        await collect_management_view(view, opts)
        return view

    return asyncio.run(run())


def test_4x_answer_with_ha_keys_says_the_queues_are_not_replicated() -> None:
    async def run() -> View:
        async with serve(FakeApi(_answers_4x())) as api:  # type: ignore[arg-type]
            return await asyncio.to_thread(_view_from, api)

    view = asyncio.run(run())
    assert view.management is not None and view.management.value is not None
    mgmt = view.management.value
    assert mgmt.rabbitmq_version == "4.0.5" and mgmt.queues is not None and mgmt.queues.value is not None
    assert len(mgmt.queues.value.rows) == 3
    inv = options({"rabbit@mq1": 1, "rabbit@mq2": 2, "rabbit@mq3": 3}).inventory
    facts = Facts(tool_version="t", inventory=InventorySummary.of(inv), views=[view])
    report = run_rules(facts, [rule_by_id("HA009"), rule_by_id("HA001")])
    [finding] = [f for f in report.findings if f.rule == "HA009"]
    assert "NOT replicated" in finding.message and "2 classic queues" in finding.message
    assert "'ha-all'" in finding.message
    assert {c.rule: c.status for c in report.checks} == {"HA009": "fail", "HA001": "skipped"}


def test_discovery_adds_the_members_the_inventory_lacks_marked_discovered_without_a_peer_given_dist_port() -> None:
    overview = {"node": "rabbit@fake", "listeners": [
        {"node": "rabbit@b", "protocol": "amqp", "port": 5673}, {"node": "rabbit@b", "protocol": "http", "port": 15673},
        {"node": "rabbit@b", "protocol": "clustering", "port": 25673}]}

    async def run() -> Any:
        names = [{"name": NODE}, {"name": "rabbit@b"}, {"name": "bad name"}]
        routes: dict[str, Any] = {"/api/nodes": Answer.json(names), "/api/overview": Answer.json(overview)}
        async with serve(FakeApi(routes)) as api:
            opts = options({NODE: api.port})
            return await discover(opts.inventory, opts)

    inv, record = asyncio.run(run())
    added = inv.node("rabbit@b")
    assert record.added == ["rabbit@b"] and record.answered_by == NODE
    assert added is not None and added.target == "b" and added.discovered
    # the distribution port is learned from EPMD at the member's address, never from the peer's answer
    assert (added.amqp_port, added.management_port, added.dist_port) == (5673, 15673, None)
    assert inv.node("bad name") is None


def test_discovery_asks_the_next_node_when_the_first_is_silent_and_costs_one_head_start() -> None:
    async def run() -> tuple[Any, float]:
        silent = FakeApi({"/api/nodes": Answer(silent=True), "/api/overview": Answer(silent=True)})
        answering = FakeApi({"/api/nodes": Answer.json([{"name": "rabbit@a"}, {"name": "rabbit@b"}])})
        async with serve(silent) as dead, serve(answering) as alive:
            opts = options({"rabbit@a": dead.port, "rabbit@b": alive.port}, timeout=2.0)
            t0 = time.perf_counter()
            found = await discover(opts.inventory, opts)
            return found, time.perf_counter() - t0

    (_, record), elapsed = asyncio.run(run())
    assert record.answered_by == "rabbit@b" and record.error is None
    assert elapsed < 1.5  # the silent node's 2 s timeout was not waited for


def test_discovery_without_any_answer_records_the_most_telling_failure() -> None:
    async def run() -> Any:
        async with serve(FakeApi({"/api/nodes": Answer.json({}, 401)})) as api:
            opts = options({NODE: api.port})
            return await discover(opts.inventory, opts)

    inv, record = asyncio.run(run())
    assert record.error is not None and record.error.kind == "auth_failed" and len(inv.nodes) == 1


def test_manager_api_repr_does_not_leak_the_password() -> None:
    async def run() -> str:
        opts = options({NODE: 1})
        async with open_api(opts.inventory.nodes[0], opts) as client:
            assert isinstance(client, ManagementApi)
            return repr(client) + repr(opts) + repr(opts.inventory)

    assert PASSWORD not in asyncio.run(run())


# --- parsers: arbitrary JSON gives a value or a typed error, never another exception ---------

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["name", "vhost", "type", "items", "page_count", "members", "online", "definition",
                         "pattern", "priority", "apply-to", "listeners", "node", "port", "value", "state",
                         "slave_nodes", "arguments", "applications", "version", "total_count"]), inner, max_size=6),
    max_leaves=20,
)
_PARSERS = [parse_overview, parse_nodes, parse_node_names, parse_feature_flags, parse_cluster_id, parse_policies,
            parse_queue_page]


@given(_JSON, st.sampled_from(_PARSERS))
@settings(max_examples=600)
def test_management_json_parsers_return_a_value_or_a_typed_error(raw: Any, parse: Any) -> None:
    with contextlib.suppress(BadReply, NotFound):
        parse(raw)


@given(st.binary(max_size=64), st.sampled_from(["application/json", "text/html", ""]))
@settings(max_examples=300)
def test_any_body_decodes_to_json_or_a_bad_reply(body: bytes, content_type: str) -> None:
    with contextlib.suppress(BadReply):
        decode_json(body, content_type, "x")


def test_queue_rows_keep_absent_mirror_lists_apart_from_empty_ones() -> None:
    rows, pages, total = parse_queue_page({"items": [
        {"name": "a", "vhost": "/", "type": "classic", "slave_nodes": [], "synchronised_slave_nodes": []},
        {"name": "b", "vhost": "/", "type": "quorum", "members": ["n1"], "online": ["n1"], "exclusive": None},
    ], "page_count": 1, "total_count": 2})
    assert rows[0].mirrors == [] and rows[1].mirrors is None and rows[1].exclusive is False
    assert (pages, total) == (1, 2)
