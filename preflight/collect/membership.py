"""Membership: the cluster each inventory node belongs to, in its own eyes — and, for a node about to
join, what `rabbitmqctl reset` would destroy on it.

Each node is asked over its own management API (`/api/nodes`, names and `running` only), so a node
that formed its own cluster, or two groups after a partition, show up as different member lists.
The contents (vhosts, users, policies, queues and their messages) are asked only of nodes marked as
joining: counting them costs requests nobody needs in an audit. Discovered members are never asked
(the password only goes to inventory nodes).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from rabbitmq_preflight.collect.management import NODE_COLUMNS, open_api
from rabbitmq_preflight.facts import Membership, NodeContents, NodeFacts, Observation, ProbeError
from rabbitmq_preflight.outcomes import BadReply, ProbeFailure

if TYPE_CHECKING:
    from rabbitmq_preflight.collect.options import CollectOptions
    from rabbitmq_preflight.inventory import NodeSpec

T = TypeVar("T")

QUEUE_PAGE = 500  # messages are summed over the first page; the count of queues is the API's total


async def collect_membership(spec: NodeSpec, facts: NodeFacts, opts: CollectOptions) -> None:
    """This node's own member list; for a joining node, also its contents."""
    if not opts.management or spec.discovered:
        return
    t0 = time.perf_counter()
    async with open_api(spec, opts) as api:
        # the cluster view's columns: the node that answers for the cluster shares this one answer
        asks = [api.get_json("/api/nodes", {"columns": NODE_COLUMNS})]
        if spec.join is not None:
            asks += [
                api.get_json("/api/vhosts", {"columns": "name"}),
                api.get_json("/api/users", {"columns": "name"}),
                api.get_json("/api/policies", {"columns": "name"}),
                api.get_json("/api/queues", {"page": "1", "page_size": str(QUEUE_PAGE),
                                             "columns": "name,messages_ready,messages_unacknowledged"}),
            ]
        answers = await asyncio.gather(*asks, return_exceptions=True)
    elapsed = round((time.perf_counter() - t0) * 1000, 2)
    facts.membership = _observed(lambda: parse_membership(answers[0], spec.name), elapsed)
    if spec.join is not None:
        facts.contents = _observed(lambda: parse_contents(answers[1:], spec.name), elapsed)


def _observed(parse: Callable[[], T], elapsed: float) -> Observation[T]:
    try:
        return Observation[T](value=parse(), latency_ms=elapsed)
    except ProbeFailure as failure:
        return Observation[T](error=ProbeError.of(failure), latency_ms=elapsed)


def _raise_failure(answer: object) -> None:
    """`gather(return_exceptions=True)` hands failures back as values: a typed one is the observation."""
    if isinstance(answer, BaseException):
        raise answer


def parse_membership(answer: object, node: str) -> Membership:
    """`/api/nodes` → the member names and which of them run, as this node reports them."""
    _raise_failure(answer)
    if not isinstance(answer, list):
        raise BadReply(f"{node} management API /api/nodes: expected a list of nodes")
    members, running = [], []
    for item in answer:
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str):
            raise BadReply(f"{node} management API /api/nodes: a node without a name")
        members.append(name)
        if item.get("running") is True:
            running.append(name)
    return Membership(members=sorted(members), running=sorted(running))


def parse_contents(answers: list[object], node: str) -> NodeContents:
    """The joining node's vhosts, users, policies and queue totals."""
    for answer in answers:
        _raise_failure(answer)
    vhosts, users, policies, queues = answers
    names = [_names(vhosts, node, "/api/vhosts"), _names(users, node, "/api/users")]
    if not isinstance(policies, list):
        raise BadReply(f"{node} management API /api/policies: expected a list")
    if not isinstance(queues, dict) or not isinstance(queues.get("items"), list):
        raise BadReply(f"{node} management API /api/queues: expected a page of queues")
    rows = [q for q in queues["items"] if isinstance(q, dict)]
    total = queues.get("total_count")
    return NodeContents(
        vhosts=names[0], users=names[1], policies=len(policies),
        queues=total if isinstance(total, int) else len(rows),
        messages_ready=sum(_count(q.get("messages_ready")) for q in rows),
        messages_unacknowledged=sum(_count(q.get("messages_unacknowledged")) for q in rows),
        queues_counted=len(rows),
    )


def _names(answer: object, node: str, path: str) -> list[str]:
    if not isinstance(answer, list):
        raise BadReply(f"{node} management API {path}: expected a list")
    return sorted(str(item["name"]) for item in answer if isinstance(item, dict) and "name" in item)


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
