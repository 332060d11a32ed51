"""Family `health`: a formed cluster's runtime state (HEALTH001–HEALTH007).

What users report most after formation: partitions that stay, publishers blocked by a memory or disk
alarm on one node, a node left drained after maintenance, `net_ticktime` differing between nodes, file
descriptors that stop recovery, and deprecated features the next release removes. Facts: each member's
row of `/api/nodes` (partitions, alarms, limits and use, `being_drained`, `net_ticktime`) and, on 3.13+,
`/api/deprecated-features/used`. A node's numbers missing while it runs (metrics collection disabled) is
unknown, never a pass. Sources: docs/reference.md §9, §10 and §12.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from rabbitmq_preflight.releases import DEPRECATED_FEATURES_API, SERIES, deprecation_phase
from rabbitmq_preflight.rule import Fail, Pass, Result, Skip, Unknown, rule
from rabbitmq_preflight.rules._management import cluster_nodes, cluster_version, live_management, management_problem
from rabbitmq_preflight.rules._shell import shell_quote
from rabbitmq_preflight.versioning import at_least

if TYPE_CHECKING:
    from rabbitmq_preflight.facts import ClusterNode, Facts

FD_BUSY = 0.9  # fd_used / fd_total at which new connections and queue files start failing


def _members(facts: Facts) -> list[ClusterNode] | Unknown:
    nodes = cluster_nodes(facts)
    if nodes is None:
        return Unknown(None, management_problem(facts))
    return nodes


def size(n: int | None) -> str:
    """Bytes as an operator reads them (MiB below 10 GiB, else GiB)."""
    if n is None:
        return "?"
    if n >= 10 << 30:
        return f"{n / (1 << 30):.1f} GiB"
    return f"{n / (1 << 20):.0f} MiB"


def _not_running(member: ClusterNode) -> Skip | None:
    return Skip(member.name, "the node is not running (its own alarms and limits are not reported)") \
        if member.running is False else None


def sides(members: list[ClusterNode]) -> list[list[str]]:
    """The groups of nodes that still see each other: two nodes are apart when either lists the other.
    Nodes that report partitions are placed first, each into the first group it is apart from no one in."""
    apart = {(m.name, p) for m in members for p in m.partitions} | {(p, m.name) for m in members for p in m.partitions}
    weight = {m.name: len(m.partitions) for m in members}
    groups: list[list[str]] = []
    for name in sorted(weight, key=lambda n: (-weight[n], n)):
        home = next((g for g in groups if not any((name, other) in apart for other in g)), None)
        if home is None:
            groups.append([name])
        else:
            home.append(name)
    return sorted((sorted(g) for g in groups), key=lambda g: (-len(g), g))


@rule(
    id="HEALTH001",
    slug="network-partition",
    family="health",
    severity="critical",
    title="A network partition: nodes of the cluster no longer see each other",
    rationale="""
        A node lists in `partitions` the peers it lost contact with and did not recover. With
        `cluster_partition_handling = ignore` (the default up to 4.2) both sides keep accepting
        writes and diverge; a blip that `pause_minority` did not heal leaves the split in place.
        Messages published on one side are lost when the other side wins.
    """,
    remediation="""
        Choose the side to keep (the one with most clients and data), then restart the nodes of the
        other side one by one (`rabbitmqctl stop_app && rabbitmqctl start_app` on each); set
        `cluster_partition_handling = pause_minority` in rabbitmq.conf (odd node counts).
    """,
)
def network_partition(facts: Facts) -> Iterator[Result]:
    members = _members(facts)
    if isinstance(members, Unknown):
        yield members
        return
    seen = {m.name: sorted(m.partitions) for m in members if m.partitions}
    if not seen:
        yield Pass(None)
        return
    groups = sides(members)
    keep, restart = groups[0], [n for g in groups[1:] for n in g]
    shown = " | ".join("[" + ", ".join(g) + "]" for g in groups)
    who = "; ".join(f"{n} lost {', '.join(p)}" for n, p in sorted(seen.items()))
    steps = "; ".join(f"on {n}: rabbitmqctl -n {shell_quote(n)} stop_app && rabbitmqctl -n {shell_quote(n)} "
                      "start_app" for n in restart)
    yield Fail(
        None, subject="partition",
        message=f"network partition: the cluster is split into {shown} ({who})",
        remediation=(f"Keep the side [{', '.join(keep)}] (or the one your clients use) and restart the other "
                     f"side's nodes one at a time — {steps}. Then set `cluster_partition_handling = pause_minority` "
                     "in rabbitmq.conf on every node.") if restart else None,
        evidence={"sides": groups, "seen_by": seen},
    )


@rule(
    id="HEALTH002",
    slug="memory-alarm",
    family="health",
    severity="error",
    title="A memory alarm is in effect: publishers are blocked cluster-wide",
    rationale="""
        When a node's memory use passes its high watermark (`vm_memory_high_watermark`), it raises a
        memory alarm and every node of the cluster blocks publishing connections until it clears.
        Producers hang without an error; queues keep growing on the consumers' side only.
    """,
    remediation="""
        Find what holds the memory (`rabbitmq-diagnostics -n NODE memory_breakdown`), let consumers
        drain the queues or move large queues, and size the watermark to the host
        (`vm_memory_high_watermark.relative = 0.4`…`0.7`, or `.absolute` under a container limit).
    """,
)
def memory_alarm(facts: Facts) -> Iterator[Result]:
    def fail(m: ClusterNode) -> Fail:
        return Fail(
            m.name, subject="mem_alarm",
            message=f"{m.name} has a memory alarm in effect: using {size(m.mem_used)} of its "
            f"{size(m.mem_limit)} high watermark — publishers on every node are blocked",
            remediation=f"`rabbitmq-diagnostics -n {shell_quote(m.name)} memory_breakdown` to see what holds "
            "the memory; let consumers drain the largest queues; if the watermark is too low for the host, "
            "raise it: `rabbitmqctl -n " + shell_quote(m.name) + " set_vm_memory_high_watermark 0.4` (and "
            "`vm_memory_high_watermark.relative = 0.4` in rabbitmq.conf).",
            evidence={"mem_used": m.mem_used, "mem_limit": m.mem_limit},
        )

    yield from _alarm(facts, "mem_alarm", lambda m: m.mem_alarm, fail)

@rule(
    id="HEALTH003",
    slug="disk-alarm",
    family="health",
    severity="error",
    title="A disk alarm is in effect: publishers are blocked cluster-wide",
    rationale="""
        When a node's free disk space falls below `disk_free_limit`, it raises a disk alarm and every
        node blocks publishing connections. The default limit (50 MB) is for development: production
        wants at least the memory high watermark.
    """,
    remediation="""
        Free space on the node's data volume (or grow it); then set `disk_free_limit.absolute` to about
        the memory watermark — high enough to warn before the disk is full, low enough to be reachable.
    """,
)
def disk_alarm(facts: Facts) -> Iterator[Result]:
    def fail(m: ClusterNode) -> Fail:
        return Fail(
            m.name, subject="disk_free_alarm",
            message=f"{m.name} has a disk alarm in effect: {size(m.disk_free)} free, below its "
            f"disk_free_limit of {size(m.disk_free_limit)} — publishers on every node are blocked",
            remediation=f"Free space on {m.name}'s data volume (`df -h /var/lib/rabbitmq`) or grow it; if the "
            f"limit is wrong for the host, set it: `rabbitmqctl -n {shell_quote(m.name)} set_disk_free_limit "
            "2GB` (and `disk_free_limit.absolute = 2GB` in rabbitmq.conf).",
            evidence={"disk_free": m.disk_free, "disk_free_limit": m.disk_free_limit},
        )

    yield from _alarm(facts, "disk_free_alarm", lambda m: m.disk_free_alarm, fail)


def _alarm(facts: Facts, flag: str, raised: Callable[[ClusterNode], bool | None],
           fail: Callable[[ClusterNode], Fail]) -> Iterator[Result]:
    """One alarm flag over the running members: raised, clear, or not reported (never a silent pass)."""
    members = _members(facts)
    if isinstance(members, Unknown):
        yield members
        return
    for m in members:
        state = raised(m)
        if (skip := _not_running(m)) is not None:
            yield skip
        elif state is None:
            yield Unknown(m.name, f"the node's {flag} is not reported (management metrics collection disabled?)")
        else:
            yield fail(m) if state else Pass(m.name)

@rule(
    id="HEALTH004",
    slug="node-drained",
    family="health",
    severity="warning",
    title="A node is in maintenance mode (drained): it serves no clients",
    rationale="""
        `rabbitmq-upgrade drain` closes a node's client connections, stops its listeners and moves
        its queue leaders away, and the node stays so — across restarts — until `revive`. A node
        left drained after maintenance carries no load while the others carry it all.
    """,
    remediation="`rabbitmq-upgrade -n NODE revive` once the maintenance is over.",
)
def node_drained(facts: Facts) -> Iterator[Result]:
    members = _members(facts)
    if isinstance(members, Unknown):
        yield members
        return
    for m in members:
        if (skip := _not_running(m)) is not None:
            yield skip
        elif m.being_drained:
            yield Fail(
                m.name, subject="being_drained",
                message=f"{m.name} is in maintenance mode (drained): no client connections, no listeners, "
                "no queue leaders",
                remediation=f"rabbitmq-upgrade -n {shell_quote(m.name)} revive",
                evidence={"being_drained": True},
            )
        elif m.being_drained is False:
            yield Pass(m.name)
        else:
            yield from _drained_by_listener(facts, m.name)


def _drained_by_listener(facts: Facts, name: str) -> Iterator[Result]:
    """3.10 does not report `being_drained`: a drained node suspends its client listeners, so a running
    node whose AMQP port refuses is drained (or its listener is stopped); one that accepts is in service."""
    statuses = {nf.ports["amqp"].status for _, nf in facts.observations(name) if "amqp" in nf.ports}
    if "open" in statuses:
        yield Pass(name)
    elif "refused" in statuses:
        yield Fail(
            name, subject="being_drained",
            message=f"{name} is running but refuses AMQP connections: it is in maintenance mode (drained), or its "
            "AMQP listener is stopped (this version does not report `being_drained`)",
            remediation=f"rabbitmq-upgrade -n {shell_quote(name)} revive   (if it was drained; otherwise check "
            f"`rabbitmq-diagnostics -n {shell_quote(name)} listeners`)",
            evidence={"being_drained": None, "amqp": "refused"},
        )
    else:
        yield Unknown(name, "the API does not report `being_drained` and the AMQP port was not probed")


@rule(
    id="HEALTH005",
    slug="net-ticktime-mismatch",
    family="health",
    severity="warning",
    title="`net_ticktime` differs across nodes",
    rationale="""
        `net_ticktime` sets how long a silent peer takes to be declared down. Nodes that disagree
        detect failures at different times — one side declares a partition while the other still
        waits — which is how short network blips become lasting partitions.
    """,
    remediation="Set the same `net_ticktime` on every node (rabbitmq.conf `net_ticktime = 60`) and restart them.",
)
def net_ticktime_mismatch(facts: Facts) -> Iterator[Result]:
    members = _members(facts)
    if isinstance(members, Unknown):
        yield members
        return
    ticks = {m.name: m.net_ticktime for m in members if m.running is not False and m.net_ticktime is not None}
    if len(ticks) < 2:
        yield Unknown(None, "net_ticktime is reported by fewer than two running nodes") if len(members) > 1 \
            else Skip(None, "a single node")
        return
    values = sorted(set(ticks.values()))
    if len(values) == 1:
        yield Pass(None)
        return
    by_value = {v: sorted(n for n, t in ticks.items() if t == v) for v in values}
    common = max(values, key=lambda v: (len(by_value[v]), v))
    shown = "; ".join(f"{v} s on {', '.join(nodes)}" for v, nodes in by_value.items())
    yield Fail(
        None, subject="net_ticktime",
        message=f"net_ticktime differs across nodes: {shown}",
        remediation=f"Set `net_ticktime = {common}` in rabbitmq.conf on "
        f"{', '.join(n for n, t in sorted(ticks.items()) if t != common)} and restart those nodes one at a time.",
        evidence={"net_ticktime": ticks},
    )


def _queues_per_node(facts: Facts) -> dict[str, int] | None:
    live = live_management(facts)
    if live is None or live.queues is None or live.queues.value is None:
        return None
    counts: dict[str, int] = {}
    for row in live.queues.value.rows:
        if row.node is not None:
            counts[row.node] = counts.get(row.node, 0) + 1
    return counts


@rule(
    id="HEALTH006",
    slug="file-descriptors",
    family="health",
    severity="error",
    title="File descriptors nearly exhausted, or too few for the node's queues and connections",
    rationale="""
        Every connection and every open queue file takes a descriptor. At the limit, new connections
        are refused, and a restarting node cannot recover its queues ("Recovering 1603 queues,
        available file handles: 927"). The production guideline is 2 × peak connections plus the
        number of queues, and at least 50,000 (`ulimit -n`, `LimitNOFILE=` in the systemd unit).
    """,
    remediation="Raise the open-files limit of the RabbitMQ service: `LimitNOFILE=65536` in a systemd drop-in "
    "(`systemctl edit rabbitmq-server`), then restart the node.",
)
def file_descriptors(facts: Facts) -> Iterator[Result]:
    members = _members(facts)
    if isinstance(members, Unknown):
        yield members
        return
    queues = _queues_per_node(facts) or {}
    fix = "`systemctl edit rabbitmq-server` → [Service] LimitNOFILE=65536, then restart"
    for m in members:
        if (skip := _not_running(m)) is not None:
            yield skip
            continue
        if m.fd_total is None or m.fd_used is None:
            yield Unknown(m.name, "fd_used/fd_total not reported (management metrics collection disabled?)")
            continue
        need = queues.get(m.name, 0) + 2 * (m.sockets_used or 0)
        evidence = {"fd_used": m.fd_used, "fd_total": m.fd_total, "sockets_used": m.sockets_used,
                    "queues_on_node": queues.get(m.name, 0), "needed": need}
        if m.fd_used >= FD_BUSY * m.fd_total:
            yield Fail(
                m.name, subject="fd", evidence=evidence,
                message=f"{m.name} uses {m.fd_used:,} of {m.fd_total:,} file descriptors "
                f"({m.fd_used / m.fd_total:.0%}): new connections and queue files will fail",
                remediation=f"On {m.name}: {fix}.",
            )
        elif need > FD_BUSY * m.fd_total:
            yield Fail(
                m.name, subject="fd", severity="warning", evidence=evidence,
                message=f"{m.name} has {m.fd_total:,} file descriptors; its {queues.get(m.name, 0):,} queues and "
                f"{m.sockets_used or 0:,} connections need about {need:,} (queues + 2 × connections): a restart "
                "may not recover every queue",
                remediation=f"On {m.name}: {fix}.",
            )
        else:
            yield Pass(m.name)


def _removal(name: str, current: str | None) -> str | None:
    """The first series after `current` where the feature is denied or removed."""
    for info in SERIES:
        if current is not None and tuple(int(p) for p in info.series.split(".")) <= \
                tuple(int(p) for p in current.split(".")):
            continue
        for d in info.deprecations:
            if d.name == name and d.phase != "permitted_by_default":
                return f"{info.series} ({d.phase.replace('_', ' ')})"
    return None


@rule(
    id="HEALTH007",
    slug="deprecated-feature-used",
    family="health",
    severity="warning",
    title="A deprecated feature is in use",
    rationale="""
        From 3.13 RabbitMQ tracks deprecated features (`/api/deprecated-features/used`). Each goes
        through permitted → denied by default → removed; a feature in use when its phase changes
        stops working after the upgrade (classic mirroring is removed in 4.0; 4.3 denies the rest
        by default).
    """,
    remediation="Stop using the feature before upgrading to the release that denies it; `preflight plan --to X.Y` "
    "lists what each step removes.",
)
def deprecated_feature_used(facts: Facts) -> Iterator[Result]:
    live = live_management(facts)
    if live is None:
        yield Unknown(None, management_problem(facts))
        return
    version = cluster_version(facts)
    if version is not None and not at_least(version, *DEPRECATED_FEATURES_API):
        yield Skip(None, f"RabbitMQ {version.text} has no deprecated-features API (3.13+); `preflight plan` derives "
                   "classic mirroring and RAM nodes from policies and node types")
        return
    obs = live.deprecated_features
    if obs is None or obs.value is None:
        yield Unknown(None, "deprecated features in use could not be listed: "
                      + (obs.reason() if obs is not None else "/api/deprecated-features/used was not asked"))
        return
    if not obs.value:
        yield Pass(None)
        return
    series = version.series if version is not None else None
    for feature in obs.value:
        known = deprecation_phase(feature.name, series) if series else None
        phase = feature.deprecation_phase or (known.phase if known else "deprecated")
        denied = phase not in ("permitted_by_default", "deprecated")
        later = _removal(feature.name, series)
        yield Fail(
            None, subject=f"deprecated:{feature.name}", severity="error" if denied else None,
            message=f"deprecated feature `{feature.name}` is in use ({phase.replace('_', ' ')}"
            + (f" on {version.text}" if version else "") + ")"
            + (f"; RabbitMQ {later} stops it" if later and not denied else ""),
            remediation=(known.fix if known else None),
            evidence={"feature": feature.name, "phase": phase, "state": feature.state, "doc_url": feature.doc_url,
                      "stopped_in": later},
        )
