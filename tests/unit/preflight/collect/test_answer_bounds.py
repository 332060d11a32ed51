"""What a management API answer may cost a run: discovery adds at most MAX_DISCOVERED members, a queue
listing reads at most `max_rows` queues (never a task per announced page), and whatever is left out —
by the cap or by the deadline — is recorded and reported, never a silent pass (issue 12, item 9).

Asserted by counting requests, rows and members on fakes; never by timing."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from rabbitmq_preflight.collect import management
from rabbitmq_preflight.collect.management import MAX_DISCOVERED, QueueFetch, discover, open_api
from rabbitmq_preflight.collect.options import CollectOptions
from rabbitmq_preflight.engine import run_rules
from rabbitmq_preflight.facts import Facts, InventorySummary, ManagementFacts, Origin, View
from rabbitmq_preflight.inventory import Inventory, ManagementSection, NodeSpec
from rabbitmq_preflight.record import Secret
from rabbitmq_preflight.rules import rule_by_id
from tests.fakes.mgmt import PASSWORD, Answer, FakeApi, options, serve

NODE = "rabbit@fake"
EXTRA = 3000  # members the hostile answer adds (issue 12: 3,000 cost 17 s)


def _members(n: int) -> list[dict[str, Any]]:
    return [{"name": NODE, "type": "disc", "running": True}] + [
        {"name": f"rabbit@member-{i}.example", "type": "disc", "running": True} for i in range(n)]


def _discover(routes: dict[str, Any]) -> tuple[Inventory, Inventory, Any, FakeApi]:
    async def run() -> tuple[Inventory, Inventory, Any, FakeApi]:
        async with serve(FakeApi(routes)) as api:
            inv = Inventory(nodes=[NodeSpec(name=NODE, address="127.0.0.1", management_port=api.port)],
                            management=ManagementSection(user="monitor", password=Secret(PASSWORD)))
            grown, record = await discover(inv, CollectOptions.of(inv, timeout=2.0))
            return inv, grown, record, api

    return asyncio.run(run())


def test_discovery_adds_at_most_the_cap_and_records_how_many_it_left_out() -> None:
    inv, grown, record, api = _discover({"/api/nodes": Answer.json(_members(EXTRA)),
                                         "/api/overview": Answer.json({"node": NODE})})
    added = [n for n in grown.nodes if n.discovered]
    assert len(added) == MAX_DISCOVERED == len(record.added)
    assert record.left_out == EXTRA - MAX_DISCOVERED
    assert [n.name for n in added] == [f"rabbit@member-{i}.example" for i in range(MAX_DISCOVERED)]  # API order
    assert len(record.members) == 1 + MAX_DISCOVERED  # the facts keep no unbounded list either
    assert grown.nodes[0] == inv.nodes[0] and not grown.nodes[0].discovered
    assert sorted({path for path, _, _ in api.requests}) == ["/api/nodes", "/api/overview"]  # nothing per member


def test_a_complete_member_list_is_not_marked_truncated() -> None:
    _, grown, record, _ = _discover({"/api/nodes": Answer.json(_members(3)),
                                     "/api/overview": Answer.json({"node": NODE})})
    assert record.left_out == 0 and len(record.added) == 3 and len(grown.nodes) == 4


def test_members_named_twice_are_added_once() -> None:
    doubled = _members(2) + _members(2)[1:]
    _, grown, record, _ = _discover({"/api/nodes": Answer.json(doubled),
                                     "/api/overview": Answer.json({"node": NODE})})
    assert record.added == ["rabbit@member-0.example", "rabbit@member-1.example"] and len(grown.nodes) == 3


def _facts(view: View, nodes: list[NodeSpec]) -> Facts:
    return Facts(tool_version="t", inventory=InventorySummary.of(Inventory(nodes=nodes)), views=[view])


def test_run004_reports_the_members_left_out() -> None:
    from rabbitmq_preflight.facts import Discovery

    added = [f"rabbit@member-{i}.example" for i in range(MAX_DISCOVERED)]
    view = View(origin=Origin(hostname="checker", collected_at=dt.datetime.now(dt.UTC)))
    view.discovery = Discovery(asked=[NODE], answered_by=NODE, members=[NODE, *added], added=added,
                               left_out=EXTRA - MAX_DISCOVERED)
    nodes = [NodeSpec(name=NODE), *(NodeSpec(name=n, discovered=True) for n in added)]
    report = run_rules(_facts(view, nodes), [rule_by_id("RUN004")])
    [cut] = [f for f in report.findings if f.node is None]
    assert f"{EXTRA - MAX_DISCOVERED} more were left out" in cut.message
    assert f"only the first {MAX_DISCOVERED} were probed" in cut.message
    assert cut.evidence == {"listed_by": NODE, "added": MAX_DISCOVERED, "left_out": EXTRA - MAX_DISCOVERED}
    assert sum(1 for f in report.findings if f.node is not None) == MAX_DISCOVERED
    assert {(c.node, c.status) for c in report.checks if c.node is None} == {(None, "fail")}


# --- queue pages ------------------------------------------------------------------------------


def _endless_pages(page_count: int, silent_after: int | None = None) -> Any:
    """`/api/queues` announcing `page_count` pages, each full; pages past `silent_after` never answer."""

    def route(path: str, query: dict[str, str]) -> Answer:
        size, page = int(query["page_size"]), int(query["page"])
        if silent_after is not None and page > silent_after:
            return Answer(silent=True)
        items = [{"name": f"q{page}.{i}", "vhost": "/", "type": "classic"} for i in range(size)]
        return Answer.json({"items": items, "page": page, "page_count": page_count, "page_size": size,
                            "total_count": page_count * size, "item_count": size, "filtered_count": size})

    return route


def test_a_million_announced_pages_read_at_most_the_row_cap_and_say_so() -> None:
    async def run() -> tuple[Any, FakeApi]:
        async with serve(FakeApi({"/api/queues": _endless_pages(1_000_000)})) as fake:
            opts = options({NODE: fake.port})
            async with open_api(opts.inventory.nodes[0], opts) as api:
                return await QueueFetch(api, page_size=5, max_rows=60).run(), fake

    table, fake = asyncio.run(run())
    assert len(fake.requests) == 12 and table.pages == 12  # 60 rows of 5: twelve pages, not a million
    assert len(table.rows) == 60 and table.page_count == 1_000_000 and table.total_count == 5_000_000
    assert table.cut_off is not None and "1,000,000 pages" in table.cut_off and "first 12" in table.cut_off


def test_the_row_cap_is_what_a_run_reads_by_default() -> None:
    assert management.MAX_QUEUE_ROWS // management.PAGE_SIZE == 400  # 200,000 queues: twice the design's scale


def test_a_complete_listing_is_not_cut_off() -> None:
    async def run() -> Any:
        async with serve(FakeApi({"/api/queues": _endless_pages(3)})) as fake:
            opts = options({NODE: fake.port})
            async with open_api(opts.inventory.nodes[0], opts) as api:
                return await QueueFetch(api, page_size=5, max_rows=60).run()

    table = asyncio.run(run())
    assert table.cut_off is None and len(table.rows) == 15 and table.pages == 3 == table.page_count


def test_the_deadline_keeps_the_pages_read_so_far_as_a_cut_off_table(monkeypatch: Any) -> None:
    fetches: list[QueueFetch] = []

    def recorded(api: Any) -> QueueFetch:
        fetches.append(QueueFetch(api))
        return fetches[-1]

    monkeypatch.setattr(management, "QueueFetch", recorded)

    async def run() -> ManagementFacts:
        async with serve(FakeApi({"/api/queues": _endless_pages(50, silent_after=2)})) as fake:
            opts = options({NODE: fake.port}, timeout=30.0)
            facts = ManagementFacts(source="api")
            async with open_api(opts.inventory.nodes[0], opts) as api:
                task = asyncio.create_task(management._fill_cluster_facts(api, facts))
                while not fetches or fetches[0].pages_done < 2:  # pages 1 and 2 in; the rest never answer
                    await asyncio.sleep(0.01)
                task.cancel()  # what collect_view does at the deadline
                await asyncio.gather(task, return_exceptions=True)
            return facts

    facts = asyncio.run(run())
    assert facts.queues is not None and facts.queues.value is not None
    table = facts.queues.value
    assert table.cut_off is not None and "deadline" in table.cut_off and "of 50 queue pages" in table.cut_off
    assert {row.name.split(".")[0] for row in table.rows} == {"q1", "q2"} and len(table.rows) == 1000
    assert table.pages == 2 and table.page_count == 50 and table.total_count == 25_000


# --- rules over a cut-off table ---------------------------------------------------------------


def test_ha_rules_never_pass_over_a_cut_off_table_and_say_on_how_many_queues_they_judged() -> None:
    from tests.ha_facts import facts, judge, policy, queue, statuses
    from tests.ha_facts import management as mgmt

    ha_all = policy("ha-all", ".*", {"ha-mode": "all"})
    covered = mgmt(policies=[ha_all], queues=[queue(f"orders.{i}") for i in range(10)])
    assert statuses(judge(facts(covered), "HA001"))[("HA001", None)] == "pass"  # the whole table: a pass
    assert covered.queues is not None and covered.queues.value is not None
    covered.queues.value.total_count, covered.queues.value.cut_off = 5000, "the run's deadline was reached"
    report = judge(facts(covered), "HA001", "HA010")
    assert statuses(report)[("HA001", None)] == "unknown"
    [finding] = [f for f in report.findings if f.rule == "HA001"]
    assert "coverage judged on 10 of 5,000 queues: the run's deadline was reached" in finding.message

    bare = mgmt(queues=[queue(f"orders.{i}") for i in range(10)])  # unmirrored: found even in part
    assert bare.queues is not None and bare.queues.value is not None
    bare.queues.value.total_count, bare.queues.value.cut_off = 5000, "at most 10 queues per run"
    [finding] = judge(facts(bare), "HA001").findings
    assert finding.outcome == "fail" and "10 of 10 classic queues are not mirrored" in finding.message
    assert "(coverage judged on 10 of 5,000 queues: at most 10 queues per run)" in finding.message
    assert finding.evidence["queue_table"]["judged"] == 10 and finding.evidence["queue_table"]["total"] == 5000
