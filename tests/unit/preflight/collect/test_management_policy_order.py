"""The policies' table order (issue 16 item 8): read from a vhost's definitions export only where a
priority tie makes it matter, one GET per such vhost, and a refusal is that vhost's typed outcome.
The answers are recorded from the 3.10.8 lab (tests/fixtures/mgmt_policy_tie_3.10.8.json)."""

from __future__ import annotations

import asyncio
import base64
import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from rabbitmq_preflight.collect import management
from rabbitmq_preflight.collect.management import collect_management_view
from rabbitmq_preflight.collect.management_json import parse_policy_order
from rabbitmq_preflight.facts import ManagementFacts, Origin, PolicyOrder, View
from rabbitmq_preflight.outcomes import BadReply
from tests.fakes.mgmt import PASSWORD, Answer, FakeApi, options, paged_queues, serve

RECORDED = json.loads((Path(__file__).resolve().parents[3] / "fixtures" / "mgmt_policy_tie_3.10.8.json").read_text())
VHOST = "preflight-tie-record"
EXPORT = f"/api/definitions/{VHOST}"
NODE = "rabbit@rabbit1"
TABLE_ORDER = PolicyOrder(policies=["tie-b", "other", "tie-d", "low", "tie-a", "tie-c"],
                          operator_policies=["op-y", "op-x"])


def _routes(policies: list[dict[str, Any]] | None = None, extra: dict[str, Answer] | None = None) -> dict[str, Any]:
    return {
        "/api/overview": Answer.json({"node": NODE, "rabbitmq_version": "3.10.8", "listeners": []}),
        "/api/nodes": Answer.json([{"name": NODE, "type": "disc", "running": True}]),
        "/api/feature-flags": Answer.json([]), "/api/global-parameters": Answer.json([]),
        "/api/policies": Answer.json(RECORDED["/api/policies"] if policies is None else policies),
        "/api/operator-policies": Answer.json(RECORDED["/api/operator-policies"] if policies is None else []),
        "/api/queues": paged_queues(RECORDED["/api/queues"]),
        EXPORT: Answer.json(RECORDED[EXPORT]),
        **(extra or {}),
    }


def _collect(routes: dict[str, Any], deadline: float | None = None,
             auth: list[str] | None = None) -> tuple[ManagementFacts, list[str]]:
    async def run() -> tuple[View, list[str]]:
        async with serve(FakeApi(routes)) as api:
            opts = options({NODE: api.port})
            view = View(origin=Origin(hostname="checker", collected_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC)))
            try:
                async with asyncio.timeout(deadline):
                    await collect_management_view(view, opts)
            except TimeoutError:
                pass
            if auth is not None:
                auth.extend(header for path, _, header in api.requests if path.startswith("/api/definitions"))
            return view, [path for path, _, _ in api.requests]

    view, asked = asyncio.run(run())
    assert view.management is not None and view.management.value is not None
    return view.management.value, asked


def test_recorded_export_lists_policies_in_table_order_not_name_order() -> None:
    order = parse_policy_order(RECORDED[EXPORT])
    assert order == TABLE_ORDER
    by_name = [p["name"] for p in RECORDED["/api/policies"] if p["priority"] == 7]
    assert by_name == sorted(by_name) and by_name[0] != order.policies[0]  # the fixture discriminates


@pytest.mark.parametrize("raw", [[], "x", {"policies": {"a": 1}}, {"policies": [{"pattern": ".*"}]},
                                 {"parameters": [{"component": "operator_policy"}]}])
def test_export_of_the_wrong_shape_is_a_bad_reply(raw: Any) -> None:
    with pytest.raises(BadReply):
        parse_policy_order(raw)


def test_vhost_with_a_priority_tie_has_its_export_read_once_with_the_inventory_credentials() -> None:
    auth: list[str] = []
    mgmt, asked = _collect(_routes(), auth=auth)
    assert auth == ["Basic " + base64.b64encode(f"monitor:{PASSWORD}".encode()).decode()]  # the inventory node's
    assert mgmt.policy_order is not None and set(mgmt.policy_order) == {VHOST}
    assert mgmt.policy_order[VHOST].value == TABLE_ORDER
    assert asked.count(EXPORT) == 1 and not [p for p in asked if p.startswith("/api/definitions") and p != EXPORT]


def test_without_a_tie_the_definitions_export_is_never_asked() -> None:
    distinct = [p for p in RECORDED["/api/policies"] if p["name"] in ("low", "tie-a")]
    mgmt, asked = _collect(_routes(distinct))
    assert mgmt.policy_order is None and not [p for p in asked if p.startswith("/api/definitions")]


def test_user_without_the_administrator_tag_is_a_typed_outcome_naming_the_tag() -> None:
    refused = RECORDED["not_administrator"]
    mgmt, _ = _collect(_routes(extra={EXPORT: Answer.json(refused["body"], refused["status"])}))
    assert mgmt.policy_order is not None
    found = mgmt.policy_order[VHOST]
    assert found.value is None and found.error is not None and found.error.kind == "forbidden"
    assert "`administrator` tag" in found.error.detail and "Not administrator user" in found.error.detail
    assert mgmt.policies is not None and mgmt.policies.ok and mgmt.queues is not None and mgmt.queues.ok


def test_vhost_names_are_url_quoted_and_each_tied_vhost_asked_once() -> None:
    tied: list[dict[str, Any]] = []
    for vhost in ("/", "a b/c?d", "no-tie"):
        for name in ("p1", "p2"):
            tied.append({"vhost": vhost, "name": name, "pattern": ".*", "definition": {"max-length": 1},
                         "priority": 1 if vhost != "no-tie" or name == "p1" else 2, "apply-to": "all"})
    export = Answer.json({"policies": [{"name": "p2"}, {"name": "p1"}], "parameters": []})
    mgmt, asked = _collect(_routes(tied, {"/api/definitions/%2F": export, "/api/definitions/a%20b%2Fc%3Fd": export}))
    assert sorted(p for p in asked if p.startswith("/api/definitions")) == [
        "/api/definitions/%2F", "/api/definitions/a%20b%2Fc%3Fd"]
    assert mgmt.policy_order is not None and set(mgmt.policy_order) == {"/", "a b/c?d"}
    assert all(o.value is not None and o.value.policies == ["p2", "p1"] for o in mgmt.policy_order.values())


def test_tied_vhosts_beyond_the_cap_are_not_asked_and_say_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(management, "MAX_ORDER_VHOSTS", 2)
    tied: list[dict[str, Any]] = [{"vhost": f"v{i}", "name": name, "pattern": ".*", "definition": {}, "priority": 0}
            for i in range(3) for name in ("a", "b")]
    export = Answer.json({"policies": [{"name": "a"}, {"name": "b"}]})
    mgmt, asked = _collect(_routes(tied, {f"/api/definitions/v{i}": export for i in range(3)}))
    assert len([p for p in asked if p.startswith("/api/definitions")]) == 2
    assert mgmt.policy_order is not None and [o.ok for o in mgmt.policy_order.values()] == [True, True, False]
    skipped = mgmt.policy_order["v2"].error
    assert skipped is not None and skipped.kind == "skipped" and "first 2 only" in skipped.detail


def test_deadline_during_the_export_keeps_the_policies_and_says_why_the_order_is_unknown() -> None:
    mgmt, _ = _collect(_routes(extra={EXPORT: Answer(silent=True)}), deadline=1.0)
    assert mgmt.policies is not None and mgmt.policies.ok
    assert mgmt.policy_order is not None
    cut = mgmt.policy_order[VHOST].error
    assert cut is not None and cut.kind == "timeout" and "deadline" in cut.detail
    assert copy.deepcopy(mgmt).policy_order == mgmt.policy_order  # a plain model: saved and loaded as is
