"""Family `node-type`: disc and RAM nodes, and cluster sizes that cannot keep a majority.

A Mnesia cluster needs at least one disc node (the schema lives on disk only there); RAM nodes only
speed up metadata churn, never message rates, and must sync from a disc peer at boot. RAM nodes are a
deprecated feature from 3.13 (`ram_node_type`) and removed in 4.3 (Khepri: always disc). Facts:
`/api/nodes` (`type`, `running`) and the inventory's `type` expectations. Source:
docs/reference.md §7, §10.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from rabbitmq_preflight.rule import Fail, Pass, Result, Skip, Unknown, rule
from rabbitmq_preflight.rules._management import (
    at_least,
    cluster_nodes,
    cluster_version,
    definitions_only,
    management_problem,
)
from rabbitmq_preflight.rules._shell import on_host

if TYPE_CHECKING:
    from rabbitmq_preflight.facts import ClusterNode, Facts


def _typed(facts: Facts) -> list[ClusterNode] | Result:
    """Cluster members with a known type, or the Unknown/Skip that explains their absence."""
    if definitions_only(facts):
        return Skip(None, "judging a definitions file alone: no nodes to check")
    nodes = cluster_nodes(facts)
    if nodes is None:
        return Unknown(None, management_problem(facts))
    typed = [n for n in nodes if n.type is not None]
    if not typed:
        return Unknown(None, "/api/nodes gave no node type")
    return typed


def _convert(node: str) -> str:
    return (f"{on_host(node)}: `rabbitmqctl stop_app && rabbitmqctl change_cluster_node_type disc "
            "&& rabbitmqctl start_app`")


@rule(
    id="NODE001",
    slug="no-disc-node",
    family="node-type",
    severity="critical",
    title="The cluster has no disc node",
    rationale="""
        RAM nodes keep the cluster's schema (users, vhosts, queues, policies) only in memory and
        copy it from a disc node at boot. With no disc node, a full cluster restart loses every
        definition, and RabbitMQ refuses to make the last node a RAM node for that reason.
    """,
    remediation="Convert at least one node (better: all) to disc: `rabbitmqctl change_cluster_node_type disc`.",
)
def no_disc_node(facts: Facts) -> Iterator[Result]:
    typed = _typed(facts)
    if not isinstance(typed, list):
        yield typed
        return
    if any(n.type == "disc" for n in typed):
        yield Pass(None)
        return
    names = sorted(n.name for n in typed)
    yield Fail(
        None, subject="node-types",
        message=f"no disc node: every member is a RAM node ({', '.join(names)}) — a full restart loses "
        "all definitions",
        remediation=_convert(names[0]) + ", then the same on the other nodes one at a time.",
        evidence={"ram_nodes": names},
    )


@rule(
    id="NODE002",
    slug="single-disc-node",
    family="node-type",
    severity="error",
    title="One disc node carries the schema for RAM nodes",
    rationale="""
        With one disc node and RAM nodes, the disc node is a single point of failure for the
        schema: while it is down no RAM node can restart, and it can be neither reset nor removed
        ("You cannot reset a node when it is the only disc node in a cluster").
    """,
    remediation="Convert the RAM nodes to disc nodes (`rabbitmqctl change_cluster_node_type disc`).",
)
def single_disc_node(facts: Facts) -> Iterator[Result]:
    typed = _typed(facts)
    if not isinstance(typed, list):
        yield typed
        return
    disc = [n.name for n in typed if n.type == "disc"]
    ram = sorted(n.name for n in typed if n.type == "ram")
    if len(disc) != 1 or not ram:
        yield Pass(None)
        return
    yield Fail(
        disc[0], subject="node-types",
        message=f"{disc[0]} is the only disc node; {len(ram)} RAM node(s) ({', '.join(ram)}) depend on it "
        "to restart",
        remediation=_convert(ram[0]) + (" (then the other RAM nodes)." if len(ram) > 1 else "."),
        evidence={"disc_nodes": disc, "ram_nodes": ram},
    )


@rule(
    id="NODE003",
    slug="ram-node",
    family="node-type",
    severity="warning",
    title="RAM node on a version that deprecates or removed them",
    rationale="""
        RAM nodes were discouraged for years, are the deprecated feature `ram_node_type` from
        3.13 and are removed in 4.3, where Khepri is the only metadata store and every node is a
        disc node (`join_cluster --ram` fails with `node_type_unsupported`). Before 3.13 they are
        merely discouraged (info).
    """,
    remediation="Convert the node: `rabbitmqctl stop_app && rabbitmqctl change_cluster_node_type disc && "
    "rabbitmqctl start_app`.",
)
def ram_node(facts: Facts) -> Iterator[Result]:
    typed = _typed(facts)
    if not isinstance(typed, list):
        yield typed
        return
    version = cluster_version(facts)
    for node in typed:
        if node.type != "ram":
            yield Pass(node.name)
            continue
        shown = version.text if version else "an unknown version"
        if at_least(version, 4, 3):
            severity, why = "error", f"RabbitMQ {shown} has no RAM nodes any more (removed in 4.3)"
        elif at_least(version, 3, 13):
            severity, why = "warning", f"RAM nodes are deprecated on {shown} (`ram_node_type`, removed in 4.3)"
        else:
            severity, why = "info", f"RAM nodes are discouraged on {shown} and removed in 4.3"
        yield Fail(
            node.name, subject="node-type", severity=severity,  # type: ignore[arg-type]
            message=f"{node.name} is a RAM node: {why}",
            remediation=_convert(node.name) + ".",
            evidence={"type": "ram", "version": version.text if version else None},
        )


@rule(
    id="NODE004",
    slug="node-type-mismatch",
    family="node-type",
    severity="error",
    title="A node's type differs from the inventory",
    rationale="""
        The inventory says which nodes must be disc and which RAM (`type = "disc"`). A node of the
        other type was joined with the wrong flag (`join_cluster --ram`) or converted since.
    """,
    remediation="Convert the node to the expected type (`rabbitmqctl change_cluster_node_type disc|ram`) "
    "or correct the inventory.",
)
def node_type_expected(facts: Facts) -> Iterator[Result]:
    expected = {n.name: n.type for n in facts.inventory.nodes if n.type is not None}
    if not expected:
        return
    typed = _typed(facts)
    if not isinstance(typed, list):
        yield typed
        return
    actual = {n.name: n.type for n in typed}
    plans = {n.name: n.join for n in facts.inventory.nodes if n.join is not None}
    for name, want in sorted(expected.items()):
        have = actual.get(name)
        if name in plans:
            flag = " --ram" if want == "ram" else ""
            yield Skip(name, f"about to join {plans[name]}: `join_cluster{flag}` will make it a {want} node")
        elif have is None:
            yield Skip(name, "not a member of the cluster (node-not-member reports it): it has no type in it")
        elif have == want:
            yield Pass(name)
        else:
            yield Fail(
                name, subject="node-type",
                message=f"{name} is a {have} node; the inventory expects {want}",
                remediation=f"{on_host(name)}: `rabbitmqctl stop_app && rabbitmqctl "
                f"change_cluster_node_type {want} && rabbitmqctl start_app` — or set `type = \"{have}\"` "
                "for it in the inventory.",
                evidence={"type": have, "expected": want},
            )


@rule(
    id="NODE005",
    slug="even-cluster-size",
    family="node-type",
    severity="warning",
    title="The cluster has an even number of nodes",
    rationale="""
        Quorum queues, streams and pause_minority need a majority of nodes. A 2-node cluster
        loses its majority when either node stops; 4 nodes tolerate one loss like 3 do, and a
        2–2 partition leaves no side with a majority. Odd sizes (3, 5, 7) are recommended.
    """,
    remediation="Run an odd number of nodes: add one node (`rabbitmqctl join_cluster`) or remove one "
    "(`rabbitmqctl forget_cluster_node`).",
)
def even_cluster_size(facts: Facts) -> Iterator[Result]:
    names = {n.name for n in facts.inventory.nodes} | {n.name for n in cluster_nodes(facts) or []}
    if not names:
        yield Skip(None, "no nodes known")
        return
    size = len(names)
    if size % 2 == 1:
        yield Pass(None)
        return
    loss = ("losing either node leaves no majority" if size == 2
            else f"it tolerates no more node losses than {size - 1} nodes would, and a "
            f"{size // 2}–{size // 2} partition leaves no majority")
    yield Fail(
        None, subject="cluster-size",
        message=f"the cluster has {size} nodes ({', '.join(sorted(names))}): {loss}",
        remediation=f"Grow to {size + 1} nodes (`rabbitmqctl join_cluster` on a new node) or shrink to "
        f"{size - 1} (`rabbitmqctl forget_cluster_node`).",
        evidence={"size": size, "nodes": sorted(names)},
    )
