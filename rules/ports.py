"""Family `port`: can the ports a cluster needs be reached, and do they speak their protocol?

Every node needs 4369 (epmd) and its distribution port reachable from every peer and CLI host,
and 5672/5671 from clients; 15672 when the management API is used. A refused port means nothing
listens (service down); a timeout means a firewall drops the packets. Facts: `PortCheck`s.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from rabbitmq_preflight.rule import Fail, Pass, Result, Skip, Unknown, rule
from rabbitmq_preflight.rules._shell import on_host, placeholder, shell_quote, valid_host, valid_ip
from rabbitmq_preflight.rules._util import multi_view, node_views, origin_label

if TYPE_CHECKING:
    from rabbitmq_preflight.facts import Facts, NodeFacts, Origin, PortCheck, View

ROLE_NAMES = {
    "epmd": "epmd (Erlang port mapper)",
    "dist": "Erlang distribution (inter-node)",
    "amqp": "AMQP",
    "amqps": "AMQP over TLS",
    "management": "management HTTP API",
}


def _subject(check: PortCheck, origin: Origin, facts: Facts) -> str:
    base = f"tcp/{check.port} ({check.role})"
    return f"{base} from {origin_label(origin)}" if multi_view(facts) else base


def _port_rule(
    facts: Facts, statuses: set[str], make: Callable[[str, Origin, NodeFacts, PortCheck], Fail]
) -> Iterator[Result]:
    for node, origin, nf in node_views(facts):
        if not nf.ports:
            yield Skip(node, "no port was probed")
            continue
        bad = [c for c in nf.ports.values() if c.status in statuses]
        for check in bad:
            yield make(node, origin, nf, check)
        unprobed = [c for c in nf.ports.values() if c.status == "local_limit"]
        if not bad and unprobed:  # this host ran out of sockets or ports: nothing is known of the peer
            yield Unknown(node, "; ".join(c.detail or f"tcp/{c.port}: local limit" for c in unprobed))
        elif not bad:
            yield Pass(node)


@rule(
    id="PORT001",
    slug="port-refused",
    family="port",
    severity="error",
    title="A required port refuses connections",
    rationale="""
        A refused connection means the host answered but nothing listens on the port: the node
        (or epmd) is stopped, crashed, or listens on another port or interface. Peers and clients
        cannot connect until it listens.
    """,
    remediation="""
        Start the node (`systemctl start rabbitmq-server`) and check its log; if it runs, check the
        listener settings (`listeners.tcp.default`, `management.tcp.port`, `RABBITMQ_DIST_PORT`).
    """,
)
def port_refused(facts: Facts) -> Iterator[Result]:
    def make(node: str, origin: Origin, nf: NodeFacts, check: PortCheck) -> Fail:
        epmd = nf.ports.get("epmd")
        node_down = (check.role != "epmd" and epmd is not None and epmd.status == "open"
                     and epmd.speaks_protocol is not False)
        hint = (
            " — epmd answers, so the host is up but the RabbitMQ node is not running"
            if node_down
            else " — nothing is listening there"
        )
        return Fail(
            node, subject=_subject(check, origin, facts),
            message=f"{node}: tcp/{check.port} ({ROLE_NAMES[check.role]}) on {nf.target} refused the "
            f"connection from {origin_label(origin)}{hint}",
            remediation=(
                f"{on_host(node)}: `systemctl start rabbitmq-server` (or `rabbitmqctl start_app`), "
                f"then `journalctl -u rabbitmq-server` / /var/log/rabbitmq/ if it does not stay up; "
                f"check that it listens: `ss -ltnp 'sport = :{check.port}'`."
            ),
            evidence={"port": check.port, "role": check.role, "status": check.status,
                      "target": nf.target, "from": origin_label(origin)},
        )

    yield from _port_rule(facts, {"refused"}, make)


@rule(
    id="PORT002",
    slug="port-filtered",
    family="port",
    severity="error",
    title="A required port is filtered (connection attempts time out)",
    rationale="""
        A connect attempt that gets no answer at all means packets are dropped on the way: a host
        firewall (iptables/nftables/ufw/firewalld) or a network ACL. RabbitMQ nodes then fail to
        cluster with `timeout` errors after long waits.
    """,
    remediation="Open the port on the node's firewall for the peers and CLI hosts that need it.",
)
def port_filtered(facts: Facts) -> Iterator[Result]:
    def make(node: str, origin: Origin, nf: NodeFacts, check: PortCheck) -> Fail:
        src = origin_label(origin)
        source = placeholder(src)
        return Fail(
            node, subject=_subject(check, origin, facts),
            message=f"{node}: tcp/{check.port} ({ROLE_NAMES[check.role]}) on {nf.target} did not answer "
            f"within {check.latency_ms or 0:.0f} ms from {src} — filtered by a firewall",
            remediation=(
                f"{on_host(node)}, allow inbound tcp/{check.port} from {src} (and every other "
                f"cluster node): `ufw allow proto tcp from {source} to any port {check.port}` or "
                f"`iptables -I INPUT -p tcp --dport {check.port} -s {source} -j ACCEPT`; "
                "also check cloud security groups between the hosts." + _for_joiners(facts, node, check)
            ),
            evidence={"port": check.port, "role": check.role, "status": check.status,
                      "target": nf.target, "from": src, "waited_ms": check.latency_ms},
        )

    yield from _port_rule(facts, {"timeout"}, make)


def _for_joiners(facts: Facts, node: str, check: PortCheck) -> str:
    """A node about to join dials this node's epmd and distribution port: open them for its address."""
    if check.role not in ("epmd", "dist"):
        return ""
    rules_ = [
        f" For the join of {spec.name}, on {node.partition('@')[2]}: "
        f"`iptables -I INPUT -p tcp --dport {check.port} -s {shell_quote(spec.address)} -j ACCEPT`."
        for spec in facts.inventory.nodes
        if spec.join == node and spec.address is not None and valid_host(spec.address)
    ]
    return "".join(rules_)


@rule(
    id="PORT003",
    slug="port-unreachable",
    family="port",
    severity="error",
    title="A node's host cannot be reached at all",
    rationale="""
        The host address does not resolve, or there is no route to it (ICMP unreachable). No port
        of the node can be tested from here.
    """,
    remediation="Check the node's address in the inventory, the routing and the name resolution.",
)
def port_unreachable(facts: Facts) -> Iterator[Result]:
    def make(node: str, origin: Origin, nf: NodeFacts, check: PortCheck) -> Fail:
        target = shell_quote(nf.target)
        return Fail(
            node, subject=_subject(check, origin, facts),
            message=f"{node}: tcp/{check.port} ({ROLE_NAMES[check.role]}) on {nf.target} cannot be "
            f"reached from {origin_label(origin)}: {check.detail or check.status}",
            remediation=(
                f"Check that {nf.target} is the right address for {node} (inventory `address`), that "
                f"it resolves (`getent hosts {target}`) and is routed (`ip route get {target}`)."
                if valid_host(nf.target) else
                f"{nf.target!r} is neither a host name nor an address: fix the inventory `address` of {node}."
            ),
            evidence={"port": check.port, "role": check.role, "status": check.status, "target": nf.target},
        )

    yield from _port_rule(facts, {"unresolvable", "unreachable"}, make)


@rule(
    id="PORT004",
    slug="port-wrong-protocol",
    family="port",
    severity="error",
    title="A port is open but does not speak its protocol",
    rationale="""
        Something listens on the port, but it is not the expected service: another program took
        the port, a proxy or load balancer answers, or TLS is expected where plain TCP was used.
        Clients and peers will fail with protocol errors.
    """,
    remediation="Find the process that owns the port (`ss -ltnp`) and move it or RabbitMQ.",
)
def port_wrong_protocol(facts: Facts) -> Iterator[Result]:
    for node, origin, nf in node_views(facts):
        tested = [c for c in nf.ports.values() if c.speaks_protocol is not None]
        if not tested:
            yield Skip(node, "no protocol was tested on an open port")
            continue
        bad = [c for c in tested if c.speaks_protocol is False]
        for check in bad:
            yield Fail(
                node, subject=_subject(check, origin, facts),
                message=f"{node}: tcp/{check.port} on {nf.target} is open but does not speak "
                f"{ROLE_NAMES[check.role]}: {check.protocol_detail}",
                remediation=(
                    f"{on_host(node)}: `ss -ltnp 'sport = :{check.port}'` shows which process owns "
                    f"tcp/{check.port}; stop it or move RabbitMQ's {check.role} listener, and check the "
                    "inventory's port for this node."
                ),
                evidence={"port": check.port, "role": check.role, "detail": check.protocol_detail},
            )
        if not bad:
            yield Pass(node)


RABBIT_PROCESSES = {"beam.smp", "epmd", "erl_child_setup", "inet_gethost"}
RABBIT_USERS = {"rabbitmq"}


def _local_ports(facts: Facts, node: str) -> dict[int, str]:
    spec = facts.inventory.node(node)
    if spec is None:
        return {}
    ports = {spec.epmd_port: "epmd", spec.amqp_port: "amqp", spec.management_port: "management",
             spec.dist_port or spec.amqp_port + 20000: "dist"}
    if spec.amqps_port:
        ports[spec.amqps_port] = "amqps"
    return ports


@rule(
    id="PORT005",
    slug="port-in-use",
    family="port",
    severity="error",
    title="A port RabbitMQ needs is held by another program on this host",
    rationale="""
        Before installing (or after a failed start), a port RabbitMQ must bind — 4369, 5672,
        25672, 15672 — may already be taken by another service. The node then fails to boot
        with `eaddrinuse`, or epmd/another broker answers in its place.
    """,
    remediation="Stop or move the other program, or configure RabbitMQ to use other ports on every node.",
)
def port_in_use(facts: Facts) -> Iterator[Result]:
    for view in facts.views:
        node = view.origin.node
        if node is None:
            continue
        if view.listeners is None or not view.listeners.ok or view.listeners.value is None:
            reason = view.listeners.reason() if view.listeners is not None else "listeners were not collected"
            yield Skip(node, f"local listening sockets not visible: {reason}")
            continue
        wanted = _local_ports(facts, node)
        foreign = [
            lst for lst in view.listeners.value
            if lst.port in wanted and lst.process not in RABBIT_PROCESSES
            and not (lst.process is None and lst.user in RABBIT_USERS)
        ]
        for lst in foreign:
            owner = f"{lst.process or 'a process'} (pid {lst.pid or '?'}, user {lst.user or '?'})"
            yield Fail(
                node, subject=f"tcp/{lst.port} ({wanted[lst.port]}) local",
                message=f"{node}: tcp/{lst.port}, which RabbitMQ needs for {ROLE_NAMES[wanted[lst.port]]}, "
                f"is held on {view.origin.hostname} by {owner}, listening on {lst.address}",
                remediation=(
                    f"{on_host(view.origin.hostname)}: `ss -ltnp 'sport = :{lst.port}'` shows the owner; stop or "
                    f"reconfigure it (`systemctl stop <service>`), or move RabbitMQ's {wanted[lst.port]} port "
                    "consistently on all nodes."
                ),
                evidence={"port": lst.port, "process": lst.process, "pid": lst.pid, "user": lst.user},
            )
        if not foreign:
            yield Pass(node)


def _status(view: View, node: str, role: str) -> str | None:
    nf = view.nodes.get(node)
    check = nf.ports.get(role) if nf is not None else None
    return check.status if check is not None else None


@rule(
    id="PORT006",
    slug="asymmetric-reachability",
    family="port",
    severity="error",
    title="One node reaches a peer's cluster port, but the peer cannot reach it back",
    rationale="""
        Erlang distribution connects in both directions: whichever node needs the other first dials.
        When A reaches B's epmd and distribution ports but B cannot reach A's, the cluster forms or
        partitions depending on who speaks first — joins from one side work and from the other hang,
        and a restart of the wrong node leaves it alone. Usually a firewall rule that allows one
        source address and not the other (`iptables -s`, a security group listing one subnet).
    """,
    remediation="Open the port on the unreachable node for the peer's address, as the finding says.",
)
def asymmetric_reachability(facts: Facts) -> Iterator[Result]:
    views = {v.origin.node: v for v in facts.views
             if v.ssh is not None and v.ssh.status == "ok" and v.origin.node is not None}
    if len(views) < 2:
        yield Skip(None, "fewer than two hosts collected over SSH: the matrix cannot be read both ways")
        return
    names = sorted(views)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            for role in ("epmd", "dist"):
                ab, ba = _status(views[a], b, role), _status(views[b], a, role)
                if ab is None or ba is None:
                    yield Unknown(a, f"{role} between {a} and {b} was not tested both ways")
                elif (ab == "open") == (ba == "open"):
                    yield Pass(a, subject=f"{role} {a} <-> {b}")
                else:
                    src, dst, status = (b, a, ba) if ab == "open" else (a, b, ab)
                    yield _one_way(facts, views[dst], src, dst, role, status)


def _one_way(facts: Facts, dst_view: View, src: str, dst: str, role: str, status: str) -> Fail:
    nf = dst_view.nodes.get(dst)
    check = nf.ports.get(role) if nf is not None else None
    port = check.port if check is not None else 0
    src_spec = facts.inventory.node(src)
    # the address dst's host sees for src: what its firewall must let in
    res = dst_view.resolution.get(src_spec.host) if src_spec is not None else None
    address = res.system.value[0] if res is not None and res.system.value else None
    source = address if valid_ip(address) else "<address of " + src + ">"
    return Fail(
        dst, subject=f"tcp/{port} ({role}) {src} -> {dst}",
        message=f"{dst}'s tcp/{port} ({role}) is {status} from {src}'s host, but {dst} reaches {src}'s: "
                "the link works one way only",
        remediation=(f"{on_host(dst)}: allow {src} in: `iptables -I INPUT -p tcp --dport {port} -s "
                     f"{shell_quote(source)} -j ACCEPT` (or the equivalent ufw/security-group rule), "
                     f"then run the check again"),
        evidence={"from": src, "to": dst, "role": role, "port": port, "status": status, "reverse": "open",
                  "source_address": address},
    )
