"""Rules on what only each node's own host can see (`check --ssh`): the SSH sessions themselves, the
hosts' clocks, the broker's open-files limit and stale node directories. Families vary (cluster,
resources, hostname); the prefix REMOTE names this module. The all-pairs port matrix read both ways
is PORT006, with the other port rules. Facts: `View.ssh`, `View.host`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from rabbitmq_preflight.rule import Fail, Pass, Result, Skip, Unknown, rule
from rabbitmq_preflight.rules._shell import on_host, shell_path, shell_quote

if TYPE_CHECKING:
    from rabbitmq_preflight.facts import Facts, View

CLOCK_TOLERANCE = 5.0  # seconds between two hosts' clocks before logs, TLS and timestamps disagree
FD_MINIMUM = 50_000  # RabbitMQ's production checklist: at least 50K open files for the broker
FD_PER_QUEUE = 2  # a classic queue's index and store segments, a quorum queue's log and snapshot
FD_CONNECTIONS = 8_192  # room for client connections and channels on top of the queues
TRANSIENT_DIRS = ("-rename", "-feature_flags", "-plugins-expand", "-plugins-expanded")  # not databases


def _ssh_views(facts: Facts) -> list[View]:
    return [v for v in facts.views if v.ssh is not None]


def _host_views(facts: Facts) -> list[View]:
    """Views collected on a node's host that ran the collector."""
    return [v for v in facts.views if v.ssh is not None and v.ssh.status == "ok" and v.origin.node is not None]


@rule(
    id="REMOTE001",
    slug="ssh-collection-failed",
    family="cluster",
    severity="error",
    title="A node's host could not be reached over SSH",
    rationale="""
        With `--ssh`, every node's host is checked from its own point of view: its resolver and
        /etc/hosts, the ports it can reach, its cookie file. When the SSH session fails (the key is
        refused, the host key is unknown, nothing answers, no shell), none of that was checked there —
        the run goes on for the other hosts, and this says which checks are missing and why.
    """,
    remediation="Make `ssh -o BatchMode=yes user@host true` work from this host (the fix is in the finding).",
)
def ssh_collection_failed(facts: Facts) -> Iterator[Result]:
    views = _ssh_views(facts)
    if not views:
        yield Skip(None, "no host was collected over SSH (run with --ssh)")
        return
    for view in views:
        session = view.ssh
        assert session is not None
        if session.status == "ok":
            yield Pass(session.node, subject=f"ssh {session.target}")
        else:
            yield Unknown(session.node, subject=f"ssh {session.target}",
                          reason=f"nothing was checked on {session.node}'s host over SSH — {session.status}: "
                                 f"{session.detail}; fix: {session.fix}")


@rule(
    id="REMOTE003",
    slug="clock-offset",
    family="resources",
    severity="warning",
    title="The nodes' clocks disagree",
    rationale="""
        RabbitMQ does not need synchronised clocks to cluster, but everything around it does: TLS
        certificate validity, message timestamps and TTL reasoning, and correlating the nodes' logs
        during an incident. Hosts whose clocks differ by seconds usually have no time service at all.
    """,
    remediation="Run a time service (chrony or systemd-timesyncd) on every node.",
)
def clock_offset(facts: Facts) -> Iterator[Result]:
    readings = [(v.origin.node, v.host.clock) for v in _host_views(facts) if v.host and v.host.clock]
    if len(readings) < 2:
        yield Skip(None, "clocks read on fewer than two hosts")
        return
    early = min(readings, key=lambda r: r[1].offset)
    late = max(readings, key=lambda r: r[1].offset)
    spread = late[1].offset - early[1].offset
    slack = late[1].uncertainty + early[1].uncertainty
    if spread - slack <= CLOCK_TOLERANCE:
        yield Pass(None, subject="clocks")
        return
    offsets = {str(node): round(clock.offset, 3) for node, clock in readings}
    yield Fail(
        None, subject="clocks",
        message=f"{late[0]}'s clock is {spread:.1f} s ahead of {early[0]}'s (read over SSH, ±{slack:.1f} s; "
                f"tolerance {CLOCK_TOLERANCE:g} s)",
        remediation=f"Run chrony or systemd-timesyncd on every node: `timedatectl set-ntp true`, then "
                    f"`chronyc tracking` (or `timedatectl`) on {early[0]} and {late[0]} shows the offset",
        evidence={"offsets_s": offsets, "spread_s": round(spread, 3), "uncertainty_s": round(slack, 3)},
    )


def _queue_count(facts: Facts) -> int | None:
    for view in facts.views:
        mgmt = view.management.value if view.management is not None else None
        queues = mgmt.queues.value if mgmt is not None and mgmt.queues is not None else None
        if queues is not None:
            return queues.total_count if queues.total_count is not None else len(queues.rows)
    return None


@rule(
    id="REMOTE004",
    slug="fd-limit-low",
    family="resources",
    severity="warning",
    title="The broker's open-files limit is below what it needs",
    rationale="""
        Every connection, channel-backed socket and queue segment is a file descriptor. When the
        broker reaches its limit it stops accepting connections and queues fail to open their files;
        RabbitMQ's production checklist asks for at least 50,000. The limit here is the running
        process's own (`/proc/PID/limits`), which is what counts — not the shell's `ulimit -n`.
        Needed: max(50,000, 2 per queue + 8,192 for connections).
    """,
    remediation="Raise LimitNOFILE in the rabbitmq-server unit (systemctl edit rabbitmq-server) and restart.",
)
def fd_limit_low(facts: Facts) -> Iterator[Result]:
    views = _host_views(facts)
    if not views:
        yield Skip(None, "no host was collected over SSH (run with --ssh)")
        return
    queues = _queue_count(facts)
    need = max(FD_MINIMUM, FD_PER_QUEUE * (queues or 0) + FD_CONNECTIONS)
    for view in views:
        node = view.origin.node
        proc = view.host.process if view.host is not None else None
        if proc is None:
            yield Unknown(node, "the broker process was not inspected")
        elif proc.value is None:
            yield (Skip if proc.error and proc.error.kind == "not_found" else Unknown)(node, proc.reason())
        elif proc.value.nofile_soft is None:
            yield Unknown(node, f"the open-files limit of process {proc.value.pid} could not be read "
                                "(or it is unlimited)")
        elif proc.value.nofile_soft >= need:
            yield Pass(node)
        else:
            limit = proc.value.nofile_soft
            why = (f"RabbitMQ's production minimum is {need}" if need == FD_MINIMUM
                   else f"{queues} queues and their connections need at least {need}")
            yield Fail(
                node, subject="LimitNOFILE",
                message=f"{node}: the broker (pid {proc.value.pid}) may open {limit} files; {why}",
                remediation=(f"{on_host(str(node))}: `systemctl edit rabbitmq-server` and add `[Service]` "
                             f"`LimitNOFILE={max(need, 65536)}`, then `systemctl restart rabbitmq-server` "
                             "(one node at a time)"),
                evidence={"pid": proc.value.pid, "nofile_soft": limit, "nofile_hard": proc.value.nofile_hard,
                          "needed": need, "queues": queues},
            )


@rule(
    id="REMOTE005",
    slug="orphaned-node-directory",
    family="hostname",
    severity="warning",
    title="The data directory holds another node's database",
    rationale="""
        RabbitMQ keeps each node's database in a directory named after the node (`rabbit@host`). A
        sibling with another name means the node name changed — a new hostname, a container id as
        the hostname — and the node started empty: its queues, users and definitions are in the old
        directory, and it no longer knows its cluster.
    """,
    remediation="Start the node with its old name (RABBITMQ_NODENAME) or move the old directory away.",
)
def orphaned_node_directory(facts: Facts) -> Iterator[Result]:
    views = _host_views(facts)
    if not views:
        yield Skip(None, "no host was collected over SSH (run with --ssh)")
        return
    for view in views:
        node = str(view.origin.node)
        dirs = view.host.node_dirs if view.host is not None else None
        if dirs is None or dirs.value is None:
            yield Unknown(node, dirs.reason() if dirs is not None else "node directories were not listed")
            continue
        stale = [d for d in dirs.value if d != node and not d.endswith(TRANSIENT_DIRS)]
        if not stale:
            yield Pass(node)
            continue
        data_dir = view.host.data_dir if view.host is not None else "/var/lib/rabbitmq/mnesia"
        for name in stale:
            path = f"{data_dir}/{name}"
            yield Fail(
                node, subject=path,
                message=f"{path} on {node}'s host is another node's database: {name} ran here before "
                        f"(the node name changed) and {node} started without its data",
                remediation=(f"{on_host(node)}: if {name} was this node, stop it and start it again with "
                             f"RABBITMQ_NODENAME={shell_quote(name)}; otherwise archive it: "
                             f"`mv {shell_path(path)} {shell_path(path + '.orphaned')}`"),
                evidence={"directory": name, "data_dir": data_dir, "running_node": node},
            )
