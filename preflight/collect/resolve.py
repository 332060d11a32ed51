"""Name resolution of every node's host part, through the three paths that matter.

Erlang resolves peer host names with the OS resolver (`inet:getaddr`, nsswitch: files then DNS),
so getaddrinfo is the ground truth for this host. /etc/hosts is also parsed directly (to say where
an answer came from and which line to fix) and DNS is asked through dnspython, which never reads
/etc/hosts — so a name that only works thanks to a local hosts entry shows up as such.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING

from rabbitmq_preflight.collect.threads import MAX_THREADS, submit_lookup
from rabbitmq_preflight.facts import HostResolution, Observation, ProbeError, View
from rabbitmq_preflight.outcomes import LocalLimit, ProbeFailure, TimedOut, Unresolvable

if TYPE_CHECKING:
    from rabbitmq_preflight.collect.options import CollectOptions

HOSTS_PATH = Path("/etc/hosts")
MAX_HOSTS_BYTES = 4 << 20


def parse_hosts(text: str) -> dict[str, list[str]]:
    """Map each name (lower-case) to its addresses in file order, as glibc reads /etc/hosts."""
    table: dict[str, list[str]] = {}
    for raw in text.splitlines():
        fields = raw.split("#", 1)[0].split()
        if len(fields) < 2:
            continue
        try:
            address = str(ipaddress.ip_address(fields[0].split("%", 1)[0]))
        except ValueError:
            continue
        for name in fields[1:]:
            addresses = table.setdefault(name.lower(), [])
            if address not in addresses:
                addresses.append(address)
    return table


def _sorted_addresses(addresses: set[str]) -> list[str]:
    """IPv4 first (Erlang's default address family), then IPv6, each in numeric order."""
    return sorted(addresses, key=lambda a: (ipaddress.ip_address(a).version, ipaddress.ip_address(a)))


async def resolve_system(host: str, timeout: float) -> list[str]:
    """getaddrinfo with a timeout (it has none of its own); raises Unresolvable or TimedOut."""
    lookup = submit_lookup(socket.getaddrinfo, host, None, type=socket.SOCK_STREAM)
    try:
        async with asyncio.timeout(timeout):
            infos = await asyncio.wrap_future(lookup)
    except TimeoutError:
        if lookup.cancelled():  # still queued behind other lookups: never asked, nothing to say of DNS
            raise LocalLimit(f"resolving {host} was not attempted within {timeout:g} s: all "
                             f"{MAX_THREADS} resolver threads of this host were busy") from None
        raise TimedOut(f"resolving {host} took longer than {timeout:g} s") from None
    except socket.gaierror as exc:
        raise Unresolvable(f"{host} does not resolve on this host ({exc.strerror})") from None
    return _sorted_addresses({str(info[4][0]) for info in infos})


async def resolve_dns(host: str, timeout: float, nameservers: list[tuple[str, int]] | None = None) -> list[str]:
    """A and AAAA through the DNS servers of /etc/resolv.conf, with the search list, as nsswitch would.

    `nameservers` (address, port) replaces resolv.conf: tests point it at fake servers.
    """
    import dns.asyncresolver
    import dns.exception
    import dns.nameserver
    import dns.resolver

    try:
        resolver = dns.asyncresolver.Resolver(configure=nameservers is None)
    except dns.resolver.NoResolverConfiguration:
        raise ProbeFailure("no DNS servers configured (/etc/resolv.conf)") from None
    if nameservers is not None:
        resolver.nameservers = [dns.nameserver.Do53Nameserver(addr, port) for addr, port in nameservers]
    resolver.lifetime = timeout
    resolver.timeout = min(timeout, 1.0)

    async def query(rdtype: str) -> set[str]:
        try:
            answer = await resolver.resolve(host, rdtype, search=True)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return set()
        return {r.to_text() for r in answer}

    try:  # dnspython's retry back-off can overrun `lifetime` by up to 0.4 s: the timeout here is the bound
        async with asyncio.timeout(timeout):
            a, aaaa = await asyncio.gather(query("A"), query("AAAA"))
    except (dns.exception.Timeout, TimeoutError):
        raise TimedOut(f"DNS did not answer for {host} within {timeout:g} s") from None
    except dns.resolver.NoNameservers:
        raise ProbeFailure(f"no DNS server answered for {host}") from None
    except dns.exception.DNSException as exc:
        raise ProbeFailure(f"DNS lookup of {host} failed ({type(exc).__name__})") from None
    return _sorted_addresses(a | aaaa)


async def _observe(coro_factory: object, host: str, timeout: float) -> Observation[list[str]]:
    t0 = time.perf_counter()
    try:
        value = await coro_factory(host, timeout)  # type: ignore[operator]
    except ProbeFailure as failure:
        return Observation[list[str]](
            error=ProbeError.of(failure), latency_ms=round((time.perf_counter() - t0) * 1000, 2)
        )
    return Observation[list[str]](value=value, latency_ms=round((time.perf_counter() - t0) * 1000, 2))


def read_hosts_table() -> dict[str, list[str]]:
    try:
        with HOSTS_PATH.open("rb") as f:
            return parse_hosts(f.read(MAX_HOSTS_BYTES).decode("utf-8", "replace"))
    except OSError:
        return {}


async def resolve_host(host: str, hosts_table: dict[str, list[str]], timeout: float) -> HostResolution:
    """System resolver always; DNS only when /etc/hosts has the name.

    Without a hosts entry the system resolver's answer already *is* the DNS answer (nsswitch falls
    through to DNS), so asking again would only cost time and dnspython's import (~70 ms).
    """
    hosts_file = hosts_table.get(host.lower(), [])
    if not hosts_file:
        return HostResolution(host=host, system=await _observe(resolve_system, host, timeout), hosts_file=[])
    system, dns_answer = await asyncio.gather(
        _observe(resolve_system, host, timeout), _observe(resolve_dns, host, timeout)
    )
    return HostResolution(host=host, system=system, hosts_file=hosts_file, dns=dns_answer)


# Lookups in flight at once: the resolver pool runs MAX_THREADS; a few more keep it busy. 10,000 lookups
# gathered at once cost one long turn of the event loop to start and another to cancel at the deadline.
RESOLVERS = 2 * MAX_THREADS


async def collect_resolution(view: View, opts: CollectOptions) -> None:
    """Resolve every node's host part on this host, each answer recorded as it comes: what the deadline
    cuts off is absent (not attempted), the answers before it are kept."""
    hosts = iter(sorted({spec.host for spec in opts.inventory.nodes}))  # shared: each host taken once
    table = read_hosts_table()

    async def worker() -> None:
        for host in hosts:
            view.resolution[host] = await resolve_host(host, table, opts.timeout)

    await asyncio.gather(*(worker() for _ in range(RESOLVERS)))
