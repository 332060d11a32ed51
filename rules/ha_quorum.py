"""Family `ha-policy`, quorum queues: members and majorities (HA010, HA011).

Quorum queues and streams are replicated by their own members, not by policies: what matters is
how many members each has, and whether stopping a node leaves any without a majority.
Source: docs/reference.md §8.
"""
from __future__ import annotations

import shlex
from collections.abc import Iterator
from typing import TYPE_CHECKING

from rabbitmq_preflight.rule import Fail, Pass, Result, Skip, Unknown, rule
from rabbitmq_preflight.rules._ha import Tally, ha_coverage, over_queue_table, queues_have
from rabbitmq_preflight.rules._management import cluster_nodes, cluster_size

if TYPE_CHECKING:
    from rabbitmq_preflight.facts import Facts, QueueRow


def _quorum_target(row: QueueRow, size: int | None) -> int:
    """Members a queue gets at declaration: its initial group size (default 3), capped by the cluster."""
    declared = (row.arguments or {}).get("x-quorum-initial-group-size")
    wanted = declared if isinstance(declared, int) and not isinstance(declared, bool) else 3
    return min(wanted, size) if size is not None else wanted


@rule(
    id="HA010",
    slug="quorum-under-replicated",
    family="ha-policy",
    severity="error",
    title="Quorum queues with too few members, or members offline",
    rationale="""
        A quorum queue needs a majority of its members. With fewer than 3 members in a cluster of
        3 or more, losing one node makes it unavailable (1 member) or leaves no margin (2 members);
        members never move to new nodes by themselves. Offline members shrink the margin now.
    """,
    remediation="Add members: `rabbitmq-queues grow rabbit@NODE all` (or `add_member`); declare new queues "
    "with x-quorum-initial-group-size ≥ 3 (odd).",
)
@over_queue_table
def quorum_under_replicated(facts: Facts) -> Iterator[Result]:
    size = cluster_size(facts)
    cov = ha_coverage(facts)
    if isinstance(cov, Unknown):
        yield cov
        return
    tally = Tally()
    for row in cov.rows:
        if row.type != "quorum":
            continue
        members = row.members
        count = len(members) if members is not None else _quorum_target(row, size)
        if (size is None or size >= 3) and count < 3:  # no cluster known (a definitions file): assume ≥ 3
            tally.add((row.vhost, f"{count} member{'s' if count != 1 else ''}"), row.name)
        elif members is not None and row.online is not None and set(members) - set(row.online):
            # Fewer than a majority online: no leader can be elected, the queue is unavailable now.
            majority = len(set(members) & set(row.online)) >= len(members) // 2 + 1
            tally.add((row.vhost, "members offline" if majority else "no majority online"), row.name)
    if not tally.total:
        yield Pass(None)
    for (vhost, problem), n, examples in tally.items():
        offline = problem == "members offline"
        leaderless = problem == "no majority online"
        yield Fail(
            None, subject=f"vhost:{vhost}:quorum:{problem}",
            severity="warning" if offline else "critical" if leaderless else None,
            message=f"vhost '{vhost}': {n:,} quorum {queues_have(n)} {problem}"
            + (": no leader can be elected, they accept no publishes or deliveries" if leaderless else "")
            + ("" if offline or leaderless else f" in a {f'{size}-node' if size else 'multi-node'} cluster: one "
               "node loss away from unavailable")
            + f" (e.g. {', '.join(examples)})",
            remediation=("Bring the offline nodes back (`rabbitmq-diagnostics check_running` on them)."
                         if offline else "Start the queues' offline members' nodes now (a majority must be online "
                         "for a leader); `rabbitmq-queues quorum_status QUEUE` shows who is missing."
                         if leaderless else "rabbitmq-queues grow rabbit@NODE all   (for each node without a member), "
                         "and declare new queues with x-quorum-initial-group-size 3 or 5."),
            evidence={"vhost": vhost, "problem": problem, "queues": n, "examples": examples, "cluster_size": size},
        )


@rule(
    id="HA011",
    slug="quorum-critical-node",
    family="ha-policy",
    severity="warning",
    title="Stopping this node would leave quorum queues without a majority",
    rationale="""
        A node is quorum-critical when some quorum queue has just enough online members for a
        majority and this node is one of them (`rabbitmq-diagnostics check_if_node_is_quorum_critical`).
        Restarting it now — an upgrade, a reboot — makes those queues unavailable.
    """,
    remediation="Bring the queues' other members online (or add members) before stopping the node.",
)
@over_queue_table
def quorum_critical(facts: Facts) -> Iterator[Result]:
    cov = ha_coverage(facts)
    if isinstance(cov, Unknown):
        yield cov
        return
    if cov.source.source != "api":
        yield Skip(None, "needs live queue state")
        return
    tally = Tally()
    for row in cov.rows:
        if row.type != "quorum" or not row.members or row.online is None:
            continue
        online = [n for n in row.online if n in row.members]
        if len(online) - 1 < len(row.members) // 2 + 1:
            for node in online:
                tally.add(node, f"{row.vhost}/{row.name}")
    counts = tally.counts or {}
    for node in sorted({n.name for n in cluster_nodes(facts) or []} - set(counts)):
        yield Pass(node)
    for node, n, examples in tally.items():
        yield Fail(
            node, subject="quorum-critical",
            message=f"{node} is quorum-critical for {n:,} quorum queues: stopping it now leaves them without a "
            f"majority (e.g. {', '.join(examples)})",
            remediation=f"Before maintenance on {node}: start the queues' offline members, or "
            f"`rabbitmq-queues grow rabbit@OTHER all`; check with `rabbitmq-diagnostics -n {shlex.quote(node)} "
            "check_if_node_is_quorum_critical`.",
            evidence={"queues": n, "examples": examples},
        )
