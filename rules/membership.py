"""Family `membership`: which cluster each inventory node belongs to, in its own eyes.

Each node's own `/api/nodes` is its view of the cluster. Nodes whose views agree form one group; a
healthy cluster is one group holding every inventory node. A node alone in its group runs as its own
cluster (it never joined, or it left); two groups of several nodes are a split brain (a partition
that healed into two clusters, or peer discovery that formed two). A node that is about to join
(`join = "rabbit@seed"` in the inventory, or `check --join … --into …`) is judged as a future member:
"not a member yet" is the plan, and what `reset` will destroy on it is the finding.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from typing import TYPE_CHECKING

from rabbitmq_preflight.rule import Fail, Pass, Result, Skip, Unknown, rule
from rabbitmq_preflight.rules._util import NAMED_AT_MOST, some_names

if TYPE_CHECKING:
    from rabbitmq_preflight.facts import Facts, Membership, NodeContents

DEFAULT_VHOSTS = frozenset({"/"})
DEFAULT_USERS = frozenset({"guest"})


def host_of(node: str) -> str:
    return node.partition("@")[2]


def joining(facts: Facts) -> dict[str, str]:
    """Joining node -> the node whose cluster it joins."""
    return {n.name: n.join for n in facts.inventory.nodes if n.join is not None and not n.discovered}


def views(facts: Facts) -> dict[str, Membership]:
    """Each inventory node's own member list (the first view that observed it)."""
    out: dict[str, Membership] = {}
    listed = {n.name for n in facts.inventory.nodes if not n.discovered}
    for view in facts.views:
        for name, nf in view.nodes.items():
            if name in listed and name not in out and nf.membership is not None and nf.membership.ok:
                assert nf.membership.value is not None
                out[name] = nf.membership.value
    return out


def unobserved_reason(facts: Facts, node: str) -> str:
    for view in facts.views:
        nf = view.nodes.get(node)
        if nf is not None and nf.membership is not None and nf.membership.error is not None:
            return f"its management API did not say which cluster it is in: {nf.membership.error.detail}"
    if not facts.inventory.management_configured:
        return "no management API credentials ([management] in the inventory): its member list was not asked"
    return "its member list was not observed"


def groups(facts: Facts) -> list[list[str]]:
    """Inventory nodes (not joining) grouped by the member list they report, largest group first,
    ties in inventory order."""
    order = [n.name for n in facts.inventory.nodes if not n.discovered]
    skip = joining(facts)
    by_members: dict[tuple[str, ...], list[str]] = {}
    for name, seen in views(facts).items():
        if name in skip:
            continue
        by_members.setdefault(tuple(seen.members), []).append(name)
    out = [sorted(g, key=order.index) for g in by_members.values()]
    return sorted(out, key=lambda g: (-len(g), order.index(g[0])))


def join_commands(node: str, seed: str, ram: bool = False) -> str:
    """The operator recipe, on the joining node's host, with the names filled in (shell-quoted)."""
    flag = " --ram" if ram else ""
    return (f"On {host_of(node)}: `rabbitmqctl stop_app && rabbitmqctl reset && "
            f"rabbitmqctl join_cluster{flag} {shlex.quote(seed)} && rabbitmqctl start_app`")


@rule(
    id="MEMBER001",
    slug="node-not-member",
    family="membership",
    severity="error",
    title="An inventory node runs outside the cluster the others form",
    rationale="""
        The inventory says these nodes are one cluster. A node whose own view lists only itself never
        joined (or left, or was reset): clients and queues on it are not part of the cluster, and
        nothing replicates to it. A check that does not notice it passes a cluster that is not one.
        A node marked as joining is judged as a future member instead.
    """,
    remediation="Join it to the cluster (the exact commands are in the finding), or mark it as joining "
    "(`join = \"rabbit@seed\"` in the inventory, or `--join NODE --into SEED`) if that is the plan.",
)
def node_not_member(facts: Facts) -> Iterator[Result]:
    plans = joining(facts)
    seen = views(facts)
    found = groups(facts)
    main = found[0] if found else []
    for spec in facts.inventory.nodes:
        name = spec.name
        if spec.discovered:
            continue
        if name in plans:
            yield Skip(name, f"about to join {plans[name]}'s cluster: not being a member yet is the plan")
            continue
        if name not in seen:
            yield Unknown(name, unobserved_reason(facts, name))
            continue
        if name in main:
            yield Pass(name)
            continue
        own = seen[name].members
        if len(own) > 1 and any(len(g) > 1 for g in found[1:] if name in g):
            yield Skip(name, "in a second multi-node cluster: membership-split-clusters reports it")
            continue
        seed = main[0]
        yield Fail(
            name, subject="membership",
            message=(f"{name} runs as its own cluster (its members: {some_names(own)}); its peers "
                     f"{some_names(main)} form another"),
            remediation=(f"{join_commands(name, seed, spec.type == 'ram')} — `reset` deletes the data on "
                         f"{name} (export it first: `rabbitmqctl export_definitions /tmp/{host_of(name)}.json`)."),
            evidence={"members": own[:NAMED_AT_MOST], "cluster": main[:NAMED_AT_MOST],
                      "members_count": len(own), "cluster_count": len(main)},
        )


@rule(
    id="MEMBER002",
    slug="split-clusters",
    family="membership",
    severity="critical",
    title="The inventory's nodes form two or more separate clusters",
    rationale="""
        Two groups of nodes that each list only their own group are two clusters: after a partition
        that was "healed" by resetting one side, or peer discovery that formed two. Clients and queues
        are split between them, and messages published to one are invisible to the other.
    """,
    remediation="Pick the cluster to keep (the one with the data), then reset and join the nodes of the "
    "other one to it, one at a time.",
)
def split_clusters(facts: Facts) -> Iterator[Result]:
    found = groups(facts)
    if not found:
        return
    several = [g for g in found if len(g) > 1]
    if len(several) < 2:
        yield Pass(None)
        return
    keep, *others = several
    described = "; ".join(f"{{{', '.join(g)}}}" for g in several)
    fixes = " ".join(join_commands(n, keep[0]) + "." for g in others for n in g)
    yield Fail(
        None, subject="membership",
        message=f"the inventory's nodes form {len(several)} separate clusters: {described}",
        remediation=(f"Keep the cluster with the data (here the larger, {{{', '.join(keep)}}}); then, node by "
                     f"node: {fixes} Each `reset` deletes that node's data: export it first."),
        evidence={"clusters": several},
    )


@rule(
    id="MEMBER003",
    slug="membership-disagreement",
    family="membership",
    severity="error",
    title="Members disagree about who is in the cluster",
    rationale="""
        A lists B as a member but B does not list A: one of them was reset or forgotten while the
        other still remembers it. The next restart of either fails with `inconsistent_cluster`.
    """,
    remediation="On the node that still lists the other: `rabbitmqctl forget_cluster_node <other>`, then "
    "join the other again with the join commands.",
)
def membership_disagreement(facts: Facts) -> Iterator[Result]:
    seen = views(facts)
    plans = joining(facts)
    judged = False
    for a, va in sorted(seen.items()):
        for b in va.members:
            if b == a or b not in seen or a in plans or b in plans:
                continue
            judged = True
            if a not in seen[b].members:
                yield Fail(
                    a, subject=f"membership:{b}",
                    message=f"{a} lists {b} as a cluster member, but {b} does not list {a} (its members: "
                            f"{', '.join(seen[b].members)})",
                    remediation=(f"On {host_of(a)}: `rabbitmqctl forget_cluster_node {shlex.quote(b)}` (with "
                                 f"{b}'s app stopped); then join {b} again. {join_commands(b, a)}."),
                    evidence={"lists": va.members, "listed_by_other": seen[b].members},
                )
    if judged:
        yield Pass(None)


def _destroyed(contents: NodeContents) -> list[str]:
    parts = []
    vhosts = [v for v in contents.vhosts if v not in DEFAULT_VHOSTS]
    users = [u for u in contents.users if u not in DEFAULT_USERS]
    if vhosts:
        parts.append(f"{len(vhosts)} vhost{'s' if len(vhosts) != 1 else ''} ({', '.join(vhosts[:5])})")
    if users:
        parts.append(f"{len(users)} user{'s' if len(users) != 1 else ''} ({', '.join(users[:5])})")
    if contents.policies:
        parts.append(f"{contents.policies} polic{'ies' if contents.policies != 1 else 'y'}")
    if contents.queues:
        held = contents.messages_ready + contents.messages_unacknowledged
        parts.append(f"{contents.queues} queue{'s' if contents.queues != 1 else ''} holding {held} message"
                     f"{'s' if held != 1 else ''} ({contents.messages_ready} ready, "
                     f"{contents.messages_unacknowledged} unacknowledged)")
    return parts


@rule(
    id="MEMBER004",
    slug="reset-destroys-data",
    family="membership",
    severity="warning",
    title="`rabbitmqctl reset` before the join will destroy data on the joining node",
    rationale="""
        Every join recipe starts with `stop_app; reset`. `reset` deletes everything the node holds:
        vhosts, users, permissions, policies, queues and their messages. The node then takes the
        cluster's definitions. Anything only the joining node has is gone unless exported first.
    """,
    remediation="Export the definitions first (`rabbitmqctl export_definitions FILE`), drain or move the "
    "messages (consume them, or shovel them to the cluster), then join.",
)
def reset_destroys_data(facts: Facts) -> Iterator[Result]:
    for name, seed in sorted(joining(facts).items()):
        contents = None
        error = None
        for view in facts.views:
            nf = view.nodes.get(name)
            if nf is not None and nf.contents is not None:
                contents, error = nf.contents.value, nf.contents.error
                break
        if contents is None:
            reason = error.detail if error is not None else (
                "no management API credentials: what it holds was not counted"
                if not facts.inventory.management_configured else "what it holds was not counted")
            yield Unknown(name, reason)
            continue
        parts = _destroyed(contents)
        if not parts:
            yield Pass(name)
            continue
        host = host_of(name)
        yield Fail(
            name, subject="reset",
            message=f"joining {seed}'s cluster starts with `rabbitmqctl reset` on {name}, which deletes "
                    + "; ".join(parts),
            remediation=(f"On {host}, before the join: `rabbitmqctl export_definitions /tmp/{host}-definitions.json` "
                         "(keep the file; import the parts you need into the cluster afterwards with "
                         "`rabbitmqctl import_definitions`), and consume or shovel the messages away."),
            evidence=contents.model_dump(),
        )


@rule(
    id="MEMBER005",
    slug="joiner-leaves-cluster",
    family="membership",
    severity="warning",
    title="The joining node belongs to another multi-node cluster, which `reset` makes it leave",
    rationale="""
        A node that is already a member of another cluster leaves it on `reset`; its old peers still
        list it until they `forget_cluster_node` it, and that cluster loses a member.
    """,
    remediation="Make sure the other cluster can lose this node; after the join, run "
    "`rabbitmqctl forget_cluster_node NODE` on the other cluster if it still lists it.",
)
def joiner_leaves_cluster(facts: Facts) -> Iterator[Result]:
    seen = views(facts)
    for name, seed in sorted(joining(facts).items()):
        own = seen.get(name)
        if own is None:
            yield Unknown(name, unobserved_reason(facts, name))
            continue
        if seed in own.members:
            yield Fail(
                name, subject="membership", severity="info",
                message=f"{name} already lists {seed} as a member: it is in that cluster already",
                remediation="Nothing to join: drop `--join` for it (or `join` in the inventory) and audit the cluster.",
                evidence={"members": own.members},
            )
            continue
        others = [m for m in own.members if m != name]
        if not others:
            yield Pass(name)
            continue
        yield Fail(
            name, subject="membership",
            message=f"{name} is a member of another cluster ({', '.join(own.members)}); `reset` makes it "
                    f"leave it before joining {seed}",
            remediation=(f"After the join, on {host_of(others[0])}: `rabbitmqctl forget_cluster_node "
                         f"{shlex.quote(name)}` if it still lists it."),
            evidence={"members": own.members},
        )
