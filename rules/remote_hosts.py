"""Rules on what only each node's own host can see (`check --ssh`): the SSH sessions themselves, the
hosts' clocks, the broker's open-files limit, stale node directories and free disk space. Families vary (cluster,
resources, hostname); the prefix REMOTE names this module. The all-pairs port matrix read both ways
is PORT006, with the other port rules. Facts: `View.ssh`, `View.host`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from rabbitmq_preflight.rule import Fail, Pass, Result, Skip, Unknown, rule
from rabbitmq_preflight.rules._config import node_configs
from rabbitmq_preflight.rules._management import cluster_nodes
from rabbitmq_preflight.rules._shell import on_host, shell_path, shell_quote
from rabbitmq_preflight.rules.health import size

if TYPE_CHECKING:
    from rabbitmq_preflight.facts import Facts, View

CLOCK_TOLERANCE = 5.0  # seconds between two hosts' clocks before logs, TLS and timestamps disagree
FD_MINIMUM = 50_000  # RabbitMQ's production checklist: at least 50K open files for the broker
FD_PER_QUEUE = 2  # a classic queue's index and store segments, a quorum queue's log and snapshot
FD_CONNECTIONS = 8_192  # room for client connections and channels on top of the queues
TRANSIENT_DIRS = ("-rename", "-feature_flags", "-plugins-expand", "-plugins-expanded")  # not databases


def _ssh_views(facts: Facts) -> list[View]:
    return [v for v in facts.views if v.ssh is not None]


NO_HOSTS = "no host was collected over SSH (run with --ssh)"  # why a per-host rule has nothing to judge


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
        yield Skip(None, NO_HOSTS)
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
        yield Skip(None, NO_HOSTS)
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
        yield Skip(None, NO_HOSTS)
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


DISK_FREE_DEFAULT = 50_000_000  # bytes: disk_free_limit's default in 3.x and 4.x (docs/reference.md §9)
DISK_MARGIN = 2  # warn below twice the limit: as much room left before the alarm as the alarm keeps in reserve
_BINARY = {"ki": 1 << 10, "kib": 1 << 10, "mi": 1 << 20, "mib": 1 << 20, "gi": 1 << 30, "gib": 1 << 30,
           "ti": 1 << 40, "tib": 1 << 40}
_DECIMAL = {"kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12, "pb": 10**15}
_LETTER = {"k": 1, "m": 2, "g": 3, "t": 4, "p": 5}


def information_bytes(text: str, series: str | None) -> int | None:
    """A size as rabbit_resource_monitor_misc:parse_information_unit reads it (`2000000`, `1GB`, `512MiB`).
    Single letters (`2G`) are 1024-based before 3.13 and 1000-based from 3.13 (docs/reference.md §9); for
    an unknown series the larger reading is taken, so the check never passes a node that would alarm."""
    m = re.fullmatch(r"([0-9]{1,19})([A-Za-z]{0,3})", text.strip().strip('"'))
    if m is None:
        return None
    number, unit = int(m.group(1)), m.group(2)
    if not unit:
        return number
    if unit.lower() in _BINARY:
        return number * _BINARY[unit.lower()]
    if unit.lower() in _DECIMAL:
        return number * _DECIMAL[unit.lower()]
    if unit.lower() in _LETTER:
        decimal = series is not None and tuple(int(p) for p in series.split(".")[:2] if p.isdigit()) >= (3, 13)
        base: int = 1000 if decimal else 1024
        return int(number * base ** _LETTER[unit.lower()])
    return None


def _relative(value: str) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return number if 0 <= number < 1000 else None


def disk_free_limit(facts: Facts, view: View) -> tuple[int, str] | Unknown:
    """The node's disk_free_limit in bytes and where it came from: what the node itself reports
    (/api/nodes), else its config read on the host (advanced.config over rabbitmq.conf), else the default."""
    node = str(view.origin.node)
    for member in cluster_nodes(facts) or []:
        if member.name == node and member.disk_free_limit is not None:
            return member.disk_free_limit, "as the node reports it in /api/nodes"
    config = next((n for n in node_configs(facts) if n.label == node and n.workload is None and n.file.startswith(
        f"{node}:")), None)
    if config is None:
        return Unknown(node, f"{node}'s config was not collected and the management API does not report its "
                             "disk_free_limit")
    if config.unread:
        return Unknown(node, f"{config.config_unknown}: its disk_free_limit is not known")
    memory = view.host.memory_bytes if view.host is not None else None
    override = config.setting("total_memory_available_override_value")
    if override is not None:
        memory = information_bytes(override.value, config.series)
    advanced = next((s for s in reversed(config.advanced) if s.key == "rabbit.disk_free_limit"), None)
    settings = [s for s in config.settings if s.key in {"disk_free_limit.absolute", "disk_free_limit.relative"}]
    chosen = advanced or (settings[-1] if settings else None)
    if chosen is None:
        return DISK_FREE_DEFAULT, "RabbitMQ's default: its config does not set disk_free_limit"
    where = f"{chosen.file}:{chosen.line}"
    rel = re.fullmatch(r"\{\s*mem_relative\s*,\s*([0-9.]+)\s*\}", chosen.value) if chosen is advanced else None
    factor = _relative(rel.group(1)) if rel else _relative(chosen.value) \
        if chosen.key == "disk_free_limit.relative" else None
    if factor is not None:
        if memory is None:
            return Unknown(node, f"{where} sets disk_free_limit relative to memory, and {node}'s total memory "
                                 "was not read")
        return round(factor * memory), f"{factor:g} × {memory // (1 << 20)} MiB of memory, {where}"
    absolute = information_bytes(chosen.value, config.series)
    if absolute is None:
        return Unknown(node, f"{where} sets disk_free_limit to {chosen.value!r}, which is not read here "
                             "(strings in advanced.config stay on the host)")
    return absolute, where


@rule(
    id="REMOTE006",
    slug="disk-space-low",
    family="resources",
    severity="error",
    title="Free disk space at the data directory is below (or near) the node's disk_free_limit",
    rationale="""
        RabbitMQ checks the free space of the volume holding its data directory against
        `disk_free_limit` (default 50 MB in 3.x and 4.x; `disk_free_limit.absolute`, or `.relative` to
        total memory). Below it, the node raises the disk alarm and every publisher in the cluster is
        blocked until space is freed. Below twice the limit (a warning), the volume has less room left
        before the alarm than the alarm itself keeps in reserve: one burst of persistent messages, a
        quorum queue's log or a message store compaction away. The limit is the node's own
        (/api/nodes) when the management API is configured, else the one its config files set.
    """,
    remediation="Free space on the data volume (or grow it), and keep disk_free_limit above the memory in use.",
)
def disk_space_low(facts: Facts) -> Iterator[Result]:
    views = _host_views(facts)
    if not views:
        yield Skip(None, NO_HOSTS)
        return
    for view in views:
        node = str(view.origin.node)
        disk = view.host.disk if view.host is not None else None
        if disk is None or disk.value is None:
            yield Unknown(node, disk.reason() if disk is not None else "free disk space was not measured")
            continue
        limit = disk_free_limit(facts, view)
        if isinstance(limit, Unknown):
            yield limit
            continue
        need, how = limit
        free, path = disk.value.available_bytes, disk.value.path
        evidence = {"path": path, "available_bytes": free, "total_bytes": disk.value.total_bytes,
                    "disk_free_limit": need, "limit_from": how}
        fix = (f"{on_host(node)}: `df -h {shell_path(path)}`, then free space on that volume or grow it; "
               "RabbitMQ needs free space above disk_free_limit (the alarm clears by itself once it is)")
        if free < need:
            yield Fail(node, subject=f"disk {path}", remediation=fix, evidence=evidence,
                       message=f"{path} on {node}'s host has {size(free)} free, below the node's disk_free_limit "
                               f"of {size(need)} ({how}): RabbitMQ raises the disk alarm and blocks every "
                               "publisher in the cluster")
        elif free < DISK_MARGIN * need:
            yield Fail(node, subject=f"disk {path}", remediation=fix, evidence=evidence, severity="warning",
                       message=f"{path} on {node}'s host has {size(free)} free, less than twice the node's "
                               f"disk_free_limit of {size(need)} ({how}): {size(free - need)} more and the disk "
                               "alarm blocks every publisher in the cluster")
        else:
            yield Pass(node, subject=f"disk {path}")
