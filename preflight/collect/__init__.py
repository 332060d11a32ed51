"""Collect: the only place that touches the network, files or processes.

`collect(inventory, options)` turns an inventory into a `Facts` snapshot. Every node is probed
concurrently and every probe has its own timeout; the whole run sits under one deadline, so an
unreachable node costs one timeout, not one per probe. What the deadline cuts off stays `None`
(not attempted), which rules report as unknown.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import socket
import time
from collections.abc import Callable, Coroutine

from rabbitmq_preflight import __version__
from rabbitmq_preflight.collect import amqp
from rabbitmq_preflight.collect.cookie import collect_cookie
from rabbitmq_preflight.collect.distribution import collect_distribution
from rabbitmq_preflight.collect.localhost import collect_listeners
from rabbitmq_preflight.collect.localscan import LocalScans
from rabbitmq_preflight.collect.management import (
    collect_management_node,
    collect_management_port,
    collect_management_view,
    discover,
)
from rabbitmq_preflight.collect.membership import collect_membership
from rabbitmq_preflight.collect.options import CollectOptions
from rabbitmq_preflight.collect.resolve import collect_resolution
from rabbitmq_preflight.collect.tcp import BUDGET, MAX_SOCKETS, SocketBudget
from rabbitmq_preflight.collect.threads import use_daemon_threads
from rabbitmq_preflight.facts import Discovery, Facts, InventorySummary, NodeFacts, Origin, View
from rabbitmq_preflight.heap import full_collections_deferred
from rabbitmq_preflight.inventory import Inventory, NodeSpec
from rabbitmq_preflight.redact import Redactor, run_secrets

NODE_SOCKETS = 4  # sockets one node's probes hold at most at once (AMQP, AMQPS, epmd/dist, HTTP)
# Nodes in flight at most, whatever the socket budget allows: every node whose ports answer at once
# (refused) takes a step in the same turn of the event loop, and the deadline's timer runs only after
# that turn. 512 nodes made turns of up to 200 ms of CPU (the deadline overran by up to 0.8 s); 128
# keep them under ~80 ms and probe as many refused nodes in 5 s (the loop's CPU is the limit, not the
# sockets). The price: silent nodes are probed 128 per probe timeout (112 already with a 1,024-fd limit).
MAX_IN_FLIGHT = 128
CANCEL_GRACE = 0.05  # seconds cancelled probes get to finish at the deadline; the rest are abandoned

NodeCollector = Callable[[NodeSpec, NodeFacts, CollectOptions], Coroutine[object, object, None]]
ViewCollector = Callable[[View, CollectOptions], Coroutine[object, object, None]]


# Every source of per-node facts for the nodes the operator's inventory lists, run concurrently for
# each node. A collector fills its own fields of NodeFacts and orders its own dependent steps (e.g. EPMD
# before the handshake). These may present secrets: the handshake the cookie, the API the password.
NODE_COLLECTORS: list[NodeCollector] = [
    amqp.collect_amqp, amqp.collect_amqps, collect_distribution, collect_management_node, collect_membership
]

# For members a peer named (`NodeSpec.discovered`: the management API's `/api/nodes`), only probes that
# present no secret and trust no port the peer supplied: AMQP's Connection.Start (we send the protocol
# header, nothing else), EPMD at the member's address and a bare connect to the port it names (the
# handshake is skipped for a discovered spec, see distribution._probe_dist), a bare connect to the
# management port. A collector goes here only if a hostile peer can gain nothing from it.
DISCOVERED_COLLECTORS: list[NodeCollector] = [
    amqp.collect_amqp, amqp.collect_amqps, collect_distribution, collect_management_port
]

# Sources of facts about the cluster or the local host, run concurrently with the node probes.
VIEW_COLLECTORS: list[ViewCollector] = [
    collect_cookie, collect_management_view, collect_resolution, collect_listeners
]


async def _guarded(label: str, coro: Coroutine[object, object, None], errors: list[str]) -> None:
    """A collector that raises is a bug: record which one (type only: messages may quote inputs) and
    let the others finish; the facts it should have filled stay `None`, so rules say unknown."""
    try:
        await coro
    except Exception as exc:
        errors.append(f"{label}: {type(exc).__name__}")


# Collectors that open their own HTTP client (not through tcp.open_connection): each holds this many
# slots of the run's socket budget while it runs.
HTTP_SLOTS: dict[NodeCollector, int] = {collect_management_node: 2}


async def _in_budget(slots: int, coro: Coroutine[object, object, None]) -> None:
    budget = BUDGET.get()
    if budget is None:
        await coro
        return
    try:
        async with budget.hold(slots):
            await coro
    finally:
        coro.close()  # never started (cancelled while waiting for slots): no "never awaited" warning


async def collect_node(spec: NodeSpec, facts: NodeFacts, opts: CollectOptions, errors: list[str]) -> None:
    collectors = DISCOVERED_COLLECTORS if spec.discovered else NODE_COLLECTORS

    def run(c: NodeCollector) -> Coroutine[object, object, None]:
        coro = c(spec, facts, opts)
        return _in_budget(HTTP_SLOTS[c], coro) if c in HTTP_SLOTS else coro

    await asyncio.gather(*(_guarded(f"{c.__name__} ({spec.name})", run(c), errors) for c in collectors))


def _origin_node(inv: Inventory, hostname: str, fqdn: str | None) -> str | None:
    names = {hostname, hostname.split(".")[0]} | ({fqdn} if fqdn else set())
    names -= {"localhost", "localhost.localdomain"}
    return next((n.name for n in inv.nodes if n.host in names), None)


async def _fqdn(hostname: str, timeout: float) -> str | None:
    try:
        async with asyncio.timeout(timeout):
            return await asyncio.to_thread(socket.getfqdn, hostname)
    except TimeoutError:
        return None


@dataclasses.dataclass
class ScrubbedEarly:
    """Nodes whose facts were scrubbed of our secrets as soon as their probes ended, inside the loop
    (~15 us each), rather than in one walk after the deadline (0.1-0.2 s at 10,000 nodes)."""

    redactor: Redactor
    nodes: list[NodeFacts] = dataclasses.field(default_factory=list)  # held: their ids stay unique

    def node_done(self, facts: NodeFacts) -> None:
        self.redactor.scrub_part(facts)
        self.nodes.append(facts)


async def collect_view(inv: Inventory, opts: CollectOptions, scrubbed: ScrubbedEarly | None = None) -> View:
    started = dt.datetime.now(dt.UTC)
    t0 = time.perf_counter()
    end = t0 + opts.deadline  # everything below, the host's own name included, counts against it
    hostname = socket.gethostname()
    fqdn = await _fqdn(hostname, min(opts.timeout, 1.0))
    nodes = {spec.name: NodeFacts(name=spec.name, target=spec.target) for spec in inv.nodes}
    origin = Origin(hostname=hostname, fqdn=fqdn, node=_origin_node(inv, hostname, fqdn), collected_at=started)
    view = View(origin=origin, nodes=nodes)
    errors = origin.collector_errors
    todo = iter(inv.nodes)  # shared by the workers: each node is taken once, in inventory order

    async def worker() -> None:
        for spec in todo:
            if time.perf_counter() >= end:  # past the deadline (its timer not run yet): start nothing new
                return
            await collect_node(spec, nodes[spec.name], opts, errors)
            if scrubbed is not None:  # its collectors are done: nothing writes to these facts any more
                scrubbed.node_done(nodes[spec.name])

    # Nodes in flight at once: enough to fill the socket budget, few enough that one turn of the event
    # loop stays short (10,000 node tasks at once starved the loop until every connect "timed out").
    # A node the deadline leaves unstarted keeps `None` facts: not attempted, reported unknown.
    budget = BUDGET.get()
    by_sockets = max(1, (budget.limit if budget else MAX_SOCKETS) // NODE_SOCKETS)
    in_flight = min(len(inv.nodes), MAX_IN_FLIGHT, by_sockets)
    tasks = [asyncio.create_task(worker()) for _ in range(in_flight)]
    tasks += [asyncio.create_task(_guarded(c.__name__, c(view, opts), errors)) for c in VIEW_COLLECTORS]
    _, pending = await asyncio.wait(tasks, timeout=max(0.0, end - time.perf_counter()))
    for task in pending:
        task.cancel()
    if pending:  # cancelled probes abort their sockets (tcp.close_quietly): give them a moment, not more
        await asyncio.wait(pending, timeout=CANCEL_GRACE)
    origin.duration_ms = round((time.perf_counter() - t0) * 1000, 1)
    origin.deadline_reached = bool(pending)
    return view


def collect(inv: Inventory, opts: CollectOptions) -> Facts:
    """Probe everything the inventory names, from this host, under the deadline."""
    out: list[tuple[Inventory, View]] = []
    # A peer that echoed our password or cookie: redacted before the facts leave here — each finished
    # node's as it finishes, the rest (nodes cut off by the deadline, the cluster-wide facts) after.
    scrubbed = ScrubbedEarly(run_secrets(opts))
    local = LocalScans.start()  # first: the child scans this host on another core while we probe
    opts = dataclasses.replace(opts, local=local)
    with full_collections_deferred():  # a full collection is one long turn of the loop: the deadline waits
        try:
            asyncio.run(_keep(_discover_then_collect(inv, opts, scrubbed), out))
        finally:
            local.close()
        inv, view = out[0]
        facts = Facts(tool_version=__version__, inventory=InventorySummary.of(inv), views=[view])
        return scrubbed.redactor.scrub(facts, already=scrubbed.nodes)


async def _keep(coro: Coroutine[object, object, tuple[Inventory, View]], out: list[tuple[Inventory, View]]) -> None:
    """Hand the result out beside asyncio.run, not through its main task: on Python 3.11 the runner's
    SIGINT bookkeeping formats a repr of that task, result included (signal.getsignal on a partial),
    which at 10,000 nodes was 1.5 s of repr of the whole View."""
    out.append(await coro)


async def _discover_then_collect(
    inv: Inventory, opts: CollectOptions, scrubbed: ScrubbedEarly | None = None
) -> tuple[Inventory, View]:
    """Ask one node for the cluster's members while the inventory's nodes are probed; only when it
    names members the inventory lacks is the probing redone for the grown list (the new members
    marked `discovered`: reported and probed without secrets, never handshaken). Both share the
    run's deadline, and the common case (a complete inventory) costs no extra round trip."""
    use_daemon_threads()  # a getaddrinfo stuck on a silent DNS server must not hold the run past the deadline
    BUDGET.set(SocketBudget())  # sockets open at once: sized from this process's fd limit
    t0 = time.perf_counter()

    async def bounded_discovery() -> tuple[Inventory, Discovery | None]:
        try:
            async with asyncio.timeout(opts.deadline):
                return await discover(inv, opts, _origin_node(inv, socket.gethostname(), None))
        except TimeoutError:
            return inv, None

    discovery = asyncio.create_task(bounded_discovery())
    view = await collect_view(inv, opts, scrubbed)
    grown, found = await discovery
    if grown is not inv:
        left = max(0.1, opts.deadline - (time.perf_counter() - t0))
        view = await collect_view(grown, dataclasses.replace(opts, inventory=grown, deadline=left), scrubbed)
        inv = grown
    view.discovery = found
    return inv, view
