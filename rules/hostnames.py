"""Family `hostname`: can every host resolve every node's name, to the right, non-loopback address?

A node name is `prefix@host`; peers and CLI tools resolve `host` with the OS resolver before they
can reach epmd. Failures here are behind `nxdomain` errors at `join_cluster`, and the Debian
`127.0.1.1 <hostname>` line makes a peer's name point back at the local machine.
On a cluster node these are errors; on another host (a CI runner, a laptop) they only break the CLI
tools run from there, so they are warnings. Facts: `View.resolution`, `View.origin`.
Source: docs/reference.md §3.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import TYPE_CHECKING

from rabbitmq_preflight.contract import Severity
from rabbitmq_preflight.rule import Fail, Pass, Result, Skip, Unknown, rule
from rabbitmq_preflight.rules._shell import INVALID_HOST, hosts_line, shell_quote, valid_host, valid_ip
from rabbitmq_preflight.rules._util import NAMED_AT_MOST, multi_view, origin_label, some_names

if TYPE_CHECKING:
    from rabbitmq_preflight.facts import Facts, HostResolution, Origin

SLOW_MS = 1000.0


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _severity(origin: Origin) -> Severity:
    """Errors where the cluster itself resolves names; warnings on hosts that only run CLI tools."""
    return "error" if origin.node is not None else "warning"


def _subject(host: str, origin: Origin, facts: Facts) -> str:
    return f"resolve {host}" + (f" on {origin_label(origin)}" if multi_view(facts) else "")


def known_address(facts: Facts, node: str) -> str | None:
    """The node's real address: the inventory's, else a non-loopback answer from any view."""
    spec = facts.inventory.node(node)
    if spec is not None and valid_ip(spec.address):
        return spec.address
    host = node.split("@", 1)[1]
    for view in facts.views:
        res = view.resolution.get(host)
        if res is not None and res.system.ok and res.system.value:
            good = [a for a in res.system.value if not _is_loopback(a)]
            if good:
                return good[0]
    return None


def _spans_hosts(facts: Facts) -> bool:
    return len({n.split("@", 1)[1].split(".")[0] for n in facts.node_names}) > 1


def _short(host: str) -> str:
    return host.split(".", 1)[0].lower()


def _own_host(origin: Origin, node: str) -> bool:
    """Is `node`'s host the host this view was collected on? Then loopback is the right answer.

    Several nodes on one machine (`rabbit1@vm`, `rabbit2@vm`) reach each other over loopback: a
    peer's name resolving to 127.x is only a trap when the peer lives on another host.
    """
    host = _short(node.split("@", 1)[1])
    own = {_short(origin.hostname)} | ({_short(origin.fqdn)} if origin.fqdn else set())
    if origin.node is not None:
        own.add(_short(origin.node.split("@", 1)[1]))
    return origin.node == node or host in own


def _resolutions(facts: Facts) -> Iterator[tuple[str, str, Origin, HostResolution | None]]:
    for view in facts.views:
        for node in facts.node_names:
            host = node.split("@", 1)[1]
            yield node, host, view.origin, view.resolution.get(host)


def _hosts_line(facts: Facts, node: str, host: str) -> str | None:
    """The /etc/hosts line to add, or None when the name (or address) must not be pasted into one."""
    address = known_address(facts, node)
    return hosts_line(address if valid_ip(address) else None, host)


@rule(
    id="HOST001",
    slug="hostname-unresolvable",
    family="hostname",
    severity="error",
    title="A node's host name does not resolve",
    rationale="""
        Every cluster member must resolve every other member's host part (and its own), and so
        must every host that runs `rabbitmqctl`. Otherwise `join_cluster` fails with
        `unable to connect to epmd (port 4369) on HOST: nxdomain`.
    """,
    remediation="Add the host to DNS, or add an /etc/hosts line `ADDRESS HOST` on every node and CLI host.",
)
def hostname_unresolvable(facts: Facts) -> Iterator[Result]:
    for node, host, origin, res in _resolutions(facts):
        if res is None:
            yield Unknown(node, f"{host} was not resolved on {origin_label(origin)}")
        elif res.system.ok:
            yield Pass(node)
        elif res.system.error is not None and res.system.error.kind == "unresolvable":
            line = _hosts_line(facts, node, host)
            who = "this cluster node" if origin.node else "this host (rabbitmqctl from here will fail)"
            yield Fail(
                node, subject=_subject(host, origin, facts), severity=_severity(origin),
                message=f"{node}: host name {host} does not resolve on {origin_label(origin)}, {who}",
                remediation=(
                    f"On {origin_label(origin)}, add this line to /etc/hosts: `{line}` (or publish {host} in "
                    f"DNS); then `getent hosts {shell_quote(host)}` must print it." if line is not None
                    else f"{INVALID_HOST} ({host!r}): fix the node's name in the inventory."
                ),
                evidence={"host": host, "from": origin_label(origin), "hosts_line": line,
                          "detail": res.system.error.detail},
            )
        else:
            yield Unknown(node, f"resolving {host} on {origin_label(origin)} failed: {res.system.reason()}")


@rule(
    id="HOST002",
    slug="hostname-loopback",
    family="hostname",
    severity="error",
    title="A peer's host name resolves to a loopback address",
    rationale="""
        Debian and Ubuntu map the machine's own hostname to 127.0.1.1 in /etc/hosts. When such a
        line (or a copied hosts file) makes a *peer's* name resolve to 127.x or ::1, Erlang
        dials the local machine instead of the peer, and clustering fails or joins the wrong node.
    """,
    remediation="Replace the loopback line for the peer in /etc/hosts with its real address.",
)
def hostname_loopback(facts: Facts) -> Iterator[Result]:
    if not _spans_hosts(facts):
        yield Skip(None, "all nodes run on one host: loopback addresses are fine")
        return
    for node, host, origin, res in _resolutions(facts):
        if res is None or not res.system.ok or not res.system.value:
            continue  # HOST001 reports what did not resolve
        loopback = [a for a in res.system.value if _is_loopback(a)]
        if not loopback or _own_host(origin, node):
            yield Pass(node)
            continue
        line = _hosts_line(facts, node, host)
        yield Fail(
            node, subject=_subject(host, origin, facts), severity=_severity(origin),
            message=f"{node}: {host} resolves to {', '.join(loopback)} on {origin_label(origin)} — a "
            "loopback address, so connections to this peer go to the local machine instead",
            remediation=(
                f"On {origin_label(origin)}, remove `{host}` from the `{loopback[0]}` line of /etc/hosts and "
                f"add `{line}`." if line is not None and valid_ip(loopback[0])
                else f"{INVALID_HOST} ({host!r}): fix the node's name in the inventory."
            ),
            evidence={"host": host, "addresses": res.system.value, "from": origin_label(origin)},
        )


@rule(
    id="HOST003",
    slug="hostname-wrong-address",
    family="hostname",
    severity="error",
    title="A node's host name resolves to another address than the inventory's",
    rationale="""
        The inventory's `address` for a node is where it really is. A name that resolves
        elsewhere (a stale /etc/hosts line, an old DNS record) sends peers and CLI tools to the
        wrong machine, or to nothing: connection attempts then time out.
    """,
    remediation="Fix the /etc/hosts line or DNS record so the name resolves to the node's address.",
)
def hostname_wrong_address(facts: Facts) -> Iterator[Result]:
    for node, host, origin, res in _resolutions(facts):
        spec = facts.inventory.node(node)
        if spec is None or not valid_ip(spec.address):
            yield Skip(node, "no IP address in the inventory to compare with")
            continue
        if res is None or not res.system.ok or not res.system.value:
            continue
        addresses = res.system.value
        if spec.address in addresses or any(_is_loopback(a) for a in addresses):
            yield Pass(node)  # loopback answers are HOST002's
            continue
        source = "/etc/hosts" if res.hosts_file else "DNS"
        yield Fail(
            node, subject=_subject(host, origin, facts), severity=_severity(origin),
            message=f"{node}: {host} resolves to {', '.join(addresses)} on {origin_label(origin)} (from "
            f"{source}), but the inventory says the node is at {spec.address}",
            remediation=(
                f"{INVALID_HOST} ({host!r}): fix the node's name in the inventory" if res.hosts_file
                and not (valid_host(host) and valid_ip(addresses[0])) else
                f"On {origin_label(origin)}, change the /etc/hosts line `{addresses[0]} {host}` to "
                f"`{spec.address} {host}`" if res.hosts_file else
                f"Update the DNS record of {host} to {spec.address}, or the inventory `address` if "
                "the node moved"
            ) + ".",
            evidence={"host": host, "resolved": addresses, "expected": spec.address, "source": source},
        )


@rule(
    id="HOST004",
    slug="resolver-disagreement",
    family="hostname",
    severity="warning",
    title="/etc/hosts and DNS give different addresses for a node",
    rationale="""
        Erlang on this host uses /etc/hosts first, but other hosts (and tools that query DNS
        directly) get the DNS answer. Two truths for one name make failures depend on where a
        command runs.
    """,
    remediation="Make DNS and /etc/hosts agree, or remove the stale one.",
)
def resolver_disagreement(facts: Facts) -> Iterator[Result]:
    for node, host, origin, res in _resolutions(facts):
        if res is None or res.dns is None or not res.dns.ok or not res.dns.value or not res.hosts_file:
            continue
        if set(res.hosts_file) & set(res.dns.value):
            yield Pass(node)
            continue
        yield Fail(
            node, subject=_subject(host, origin, facts),
            message=f"{node}: on {origin_label(origin)}, /etc/hosts maps {host} to {', '.join(res.hosts_file)} "
            f"but DNS answers {', '.join(res.dns.value)}",
            remediation=f"Decide which address is right for {host}; fix the DNS record or the /etc/hosts "
            f"line on {origin_label(origin)} so both say the same.",
            evidence={"host": host, "hosts_file": res.hosts_file, "dns": res.dns.value},
        )


@rule(
    id="HOST005",
    slug="name-type-mixed",
    family="hostname",
    severity="error",
    title="Short and long node names are mixed in one cluster",
    rationale="""
        A host part with a dot is a long name (`RABBITMQ_USE_LONGNAME=true`); without one it is a
        short name. Erlang refuses to connect short-name and long-name nodes
        (`System NOT running to use fully qualified hostnames`).
    """,
    remediation="Use one naming scheme for all nodes: all short names, or long names everywhere "
    "(set RABBITMQ_USE_LONGNAME=true on every node and CLI host; a node must be reset to change).",
)
def name_type_mixed(facts: Facts) -> Iterator[Result]:
    long = sorted(n for n in facts.node_names if "." in n.split("@", 1)[1])
    short = sorted(n for n in facts.node_names if n not in long)
    if not long or not short:
        for node in facts.node_names:
            yield Pass(node)
        return
    minority, majority = (long, short) if len(long) <= len(short) else (short, long)
    kind = "long" if minority is long else "short"
    # The lists are capped (first names and a count): every odd node gets a finding, so naming every
    # other node in each was quadratic (1,000 findings of 175 KB at 1,000 nodes).
    evidence = {"long": long[:NAMED_AT_MOST], "short": short[:NAMED_AT_MOST],
                "long_count": len(long), "short_count": len(short)}
    for node in minority:
        yield Fail(
            node, subject="node-name-type",
            message=f"{node} uses a {kind} name while {some_names(majority)} use"
            f"{'s' if len(majority) == 1 else ''} {'short' if kind == 'long' else 'long'} names",
            remediation=f"Rename {node} to match the others (a rename needs `rabbitmqctl reset` and "
            "RABBITMQ_NODENAME / RABBITMQ_USE_LONGNAME set consistently on all nodes).",
            evidence=evidence,
        )
    for node in majority:
        yield Pass(node)


@rule(
    id="HOST007",
    slug="resolution-slow",
    family="hostname",
    severity="warning",
    title="Resolving a node's host name is slow",
    rationale="""
        Every new connection between nodes and from CLI tools resolves the host name first.
        Lookups slower than a second (an unreachable DNS server tried first, a search list of
        dead domains) add that delay to every `rabbitmqctl` call and to reconnections.
    """,
    remediation="Add the cluster hosts to /etc/hosts, or fix the resolver order and servers in /etc/resolv.conf.",
)
def resolution_slow(facts: Facts) -> Iterator[Result]:
    for node, host, origin, res in _resolutions(facts):
        if res is None or not res.system.ok or res.system.latency_ms is None:
            continue
        if res.system.latency_ms <= SLOW_MS:
            yield Pass(node)
            continue
        line = _hosts_line(facts, node, host)
        yield Fail(
            node, subject=_subject(host, origin, facts),
            message=f"{node}: resolving {host} took {res.system.latency_ms:.0f} ms on {origin_label(origin)}",
            remediation=(f"Add `{line}` to /etc/hosts on {origin_label(origin)}" if line is not None
                         else f"{INVALID_HOST} ({host!r}); fix the node's name in the inventory") +
            ", or remove unreachable servers from /etc/resolv.conf.",
            evidence={"host": host, "latency_ms": res.system.latency_ms},
        )


@rule(
    id="HOST006",
    slug="node-name-mismatch",
    family="hostname",
    severity="error",
    title="A node calls itself by another name than the inventory's",
    rationale="""
        Erlang compares the name a node announces in the distribution handshake with the name
        that was dialled, and aborts the connection when they differ, even with the right cookie
        ("Node name (or hostname) mismatch"). Typical causes: a hosts-file alias, a DNS CNAME,
        or RABBITMQ_NODENAME set differently from what peers use.
    """,
    remediation="Use the node's real name (as `rabbitmqctl status` prints it) everywhere, "
    "and remove the alias that makes the other name reach it.",
)
def node_name_mismatch(facts: Facts) -> Iterator[Result]:
    for view in facts.views:
        for name, nf in view.nodes.items():
            alive = name.split("@", 1)[0]
            shake = nf.handshake.value if nf.handshake is not None and nf.handshake.ok else None
            names = nf.epmd.value if nf.epmd is not None and nf.epmd.ok else None
            if shake is not None and not shake.name_matches:
                yield Fail(
                    name, subject="announced-name",
                    message=f"{name} (reached at {nf.target}) announced itself as {shake.remote_name} in the "
                    f"distribution handshake from {origin_label(view.origin)}; Erlang aborts such connections",
                    remediation=f"Refer to the node as {shake.remote_name} (inventory, join_cluster, "
                    f"rabbitmqctl -n), or fix the /etc/hosts alias or DNS name that sends {name} to it.",
                    evidence={"dialled": name, "announced": shake.remote_name, "target": nf.target},
                )
            elif names is not None and names.nodes and names.port_of(alive) is None:
                registered = ", ".join(n.alive for n in names.nodes)
                yield Fail(
                    name, subject="epmd-name",
                    message=f"{name}: epmd on {nf.target} lists {registered} but no node named {alive!r}",
                    remediation=f"Check RABBITMQ_NODENAME on {nf.target}: if the node is "
                    f"{names.nodes[0].alive}@…, use that name in the inventory; if {alive!r} should run "
                    "there, start it.",
                    evidence={"registered": [n.alive for n in names.nodes], "expected": alive},
                )
            elif shake is not None or (names is not None and names.port_of(alive) is not None):
                yield Pass(name)
            else:
                yield Skip(name, "neither the handshake nor epmd told the node's own name")
