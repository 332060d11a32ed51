"""Live priority ties (issue 16 item 8), preflight/coverage.py: broken in the table order a vhost's
definitions export lists (RabbitMQ's), else left unresolved with the reason. Built from answers
recorded on the 3.10.8 lab, where /api/queues shows the broker's own verdict per queue."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from rabbitmq_preflight.collect.management_json import parse_policies, parse_policy_order, queue_row
from rabbitmq_preflight.coverage import Coverage, coverage_of
from rabbitmq_preflight.facts import ManagementFacts, Observation, Policy, PolicyOrder, ProbeError, QueueTable
from rabbitmq_preflight.outcomes import Forbidden
from rabbitmq_preflight.policy import tied_vhosts

RECORDED = json.loads((Path(__file__).resolve().parents[2] / "fixtures" / "mgmt_policy_tie_3.10.8.json").read_text())
VHOST = "preflight-tie-record"
QUEUES = RECORDED["/api/queues"]
REFUSED = ("rabbit@rabbit1 management API /api/definitions/preflight-tie-record: HTTP 401: Not administrator "
           "user — user 'monitor' needs the `administrator` tag to read a vhost's definitions export")


def _source(order: Observation[PolicyOrder] | None, source: Literal["api", "definitions"] = "api") -> ManagementFacts:
    return ManagementFacts(
        source=source, rabbitmq_version="3.10.8",
        policies=Observation(value=parse_policies(RECORDED["/api/policies"])),
        operator_policies=Observation(value=parse_policies(RECORDED["/api/operator-policies"])),
        queues=Observation(value=QueueTable(rows=[queue_row(q) for q in QUEUES])),
        policy_order=None if order is None else {VHOST: order},
    )


def _coverage(order: Observation[PolicyOrder] | None, source: Literal["api", "definitions"] = "api") -> Coverage:
    cov = coverage_of(_source(order, source))
    assert isinstance(cov, Coverage)
    return cov


def _read() -> Observation[PolicyOrder]:
    return Observation(value=parse_policy_order(RECORDED[f"/api/definitions/{VHOST}"]))


def _winners(cov: Coverage) -> list[tuple[str, str | None, str | None, dict[str, Any]]]:
    return [(row.name, res.policy.name if res.policy else None,
             res.operator_policy.name if res.operator_policy else None, dict(res.effective))
            for row, res in cov.pairs()]


def test_live_tie_is_broken_in_the_exports_table_order_as_the_broker_broke_it() -> None:
    cov = _coverage(_read())
    broker = [(q["name"], q["policy"], q["operator_policy"], q["effective_policy_definition"]) for q in QUEUES]
    assert _winners(cov) == broker  # tie.1/tie.2: tie-b and op-y, the first of the table; other.1: low
    tied = [res for _, res in cov.pairs() if res.tied]
    assert tied and all(res.tie_order_known and not res.mirroring_undefined for res in tied)
    assert cov.tie_order_unread == {}


def test_without_the_order_the_name_order_winner_is_not_the_brokers_and_the_tie_stays_unresolved() -> None:
    cov = _coverage(None)
    names = {name: (policy, operator) for name, policy, operator, _ in _winners(cov)}
    assert names["tie.1"] == ("other", "op-x")  # what /api/policies' name order would say: not RabbitMQ's
    tied = [res for _, res in cov.pairs() if res.tied]
    assert tied and all(res.mirroring_undefined and not res.tie_order_known for res in tied)
    assert cov.tie_order_unread == {VHOST: "its definitions export was not read (facts collected without it)"}


def test_a_refused_export_leaves_the_tie_unresolved_and_says_why() -> None:
    cov = _coverage(Observation(error=ProbeError.of(Forbidden(REFUSED))))
    assert cov.tie_order_unread == {VHOST: REFUSED}
    assert all(res.mirroring_undefined for _, res in cov.pairs() if res.tied)


def test_an_export_missing_a_listed_policy_is_not_taken_as_the_order() -> None:
    partial = _read().value
    assert partial is not None
    partial.policies.remove("tie-a")  # created between the listing and the export: its place is unknown
    cov = _coverage(Observation(value=partial))
    assert "changed between listing them and reading its definitions export" in cov.tie_order_unread[VHOST]
    assert all(not res.tie_order_known for _, res in cov.pairs())


def test_a_definitions_file_keeps_its_ties_unresolved_whatever_its_order() -> None:
    """An import lays policies out in the table afresh: a file's listing is not the order they will have."""
    cov = _coverage(None, source="definitions")
    assert cov.tie_order_unread == {} and all(res.mirroring_undefined for _, res in cov.pairs() if res.tied)


def test_only_vhosts_with_equal_priorities_among_queue_policies_count_as_tied() -> None:
    def pol(vhost: str, name: str, priority: int, apply_to: str = "all") -> Policy:
        return Policy(vhost=vhost, name=name, pattern=".*", priority=priority, apply_to=apply_to)

    listed = [pol("a", "x", 1), pol("a", "y", 1), pol("b", "x", 1), pol("b", "y", 2),
              pol("c", "x", 3, "exchanges"), pol("c", "y", 3, "exchanges"), pol("d", "x", 0)]
    assert tied_vhosts(listed, [pol("d", "op1", 0), pol("d", "op2", 0), pol("b", "op", 1)]) == ["a", "d"]
