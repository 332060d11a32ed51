"""Management HTTP API probe: overview per node, cluster facts from one node, and discovery.

Every node's own `/api/overview` (its versions, the cluster's listeners) is also that node's
management port check: the port is dialled once. Cluster-wide facts — members and their types,
feature flags, the internal cluster id, policies, operator policies and every queue (paged, 500 per
page at most, pages fetched concurrently, only the columns the rules need) and, for a vhost whose
policies share a priority, the order its definitions export lists them in — come from the first node
that answers; asking the others in turn after a short head start keeps one silent node from costing
more than one timeout.

Only GETs, never `/api/aliveness-test` (it declares a queue on 3.x), over our own small HTTP/1.1 client
(collect/http.py: keep-alive per node, no redirects, no proxies). The password is a `Secret`, turned
into the Basic authorization header when a node's client opens and never formatted into a message.
Every failure is typed: Refused/TimedOut/Unreachable/Unresolvable, AuthFailed (401), Forbidden
(403), NotFound (404: plugin missing or endpoint absent on this version), HttpError (5xx and other
statuses), BadReply (not HTTP, not JSON, truncated, oversized, or not the expected shape).
"""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import os
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import field
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, urlencode

from rabbitmq_preflight.collect.http import HttpPool
from rabbitmq_preflight.collect.management_json import (
    parse_cluster_id,
    parse_deprecated_features,
    parse_feature_flags,
    parse_node_names,
    parse_nodes,
    parse_overview,
    parse_policies,
    parse_policy_order,
    parse_queue_page,
)
from rabbitmq_preflight.collect.options import DISCOVERED
from rabbitmq_preflight.collect.tcp import port_failure, probe_port
from rabbitmq_preflight.facts import (
    ClusterNode,
    Discovery,
    ManagementFacts,
    MgmtOverview,
    NodeFacts,
    Observation,
    Policy,
    PolicyOrder,
    PortCheck,
    ProbeError,
    QueueTable,
    View,
)
from rabbitmq_preflight.inventory import Inventory, NodeSpec
from rabbitmq_preflight.outcomes import (
    AuthFailed,
    BadReply,
    Forbidden,
    HttpError,
    NotFound,
    ProbeFailure,
    Skipped,
    TimedOut,
)
from rabbitmq_preflight.policy import tied_vhosts
from rabbitmq_preflight.record import Decline, lean, strict_build
from rabbitmq_preflight.releases import DEPRECATED_FEATURES_API
from rabbitmq_preflight.versioning import Version, at_least

if TYPE_CHECKING:
    from rabbitmq_preflight.collect.options import CollectOptions

T = TypeVar("T")
Answer = tuple[bool, Any, ProbeFailure | None]  # (TCP got through, decoded JSON, or the failure)

MAX_BODY = 32 << 20  # a 500-queue page with our columns is well under 1 MiB
PAGE_SIZE = 500  # the API's maximum (HTTP 400 above it)
PAGE_CONCURRENCY = 4
# Members a peer's `/api/nodes` may add to a run (discover): each costs sockets and a probe, and the
# answer is unauthenticated. A real cluster has a handful; the rest is left out and reported (RUN004).
MAX_DISCOVERED = 256
# Queues one run lists at most (400 pages of 500): the design's scale is 100,000 queues; a peer that
# announces more pages than this gets a table marked cut off, judged as a part (rules/_ha.py).
MAX_QUEUE_ROWS = 200_000
# Vhosts whose definitions export one run reads for the policies' table order (those with a priority
# tie, one request each, ORDER_CONCURRENCY at a time); the others' ties stay unresolved and say why.
MAX_ORDER_VHOSTS = 64
ORDER_CONCURRENCY = 2
OVERVIEW_COLUMNS = (
    "node,rabbitmq_version,erlang_version,product_name,product_version,management_version,cluster_name,listeners"
)
NODE_COLUMNS = (
    "name,type,running,partitions,mem_alarm,disk_free_alarm,applications,mem_used,mem_limit,disk_free,"
    "disk_free_limit,fd_used,fd_total,sockets_used,sockets_total,net_ticktime,being_drained"
)
QUEUE_COLUMNS = (
    "name,vhost,type,durable,auto_delete,exclusive,policy,operator_policy,effective_policy_definition,"
    "node,slave_nodes,synchronised_slave_nodes,members,online,arguments"
)
# The user tag each endpoint needs (rabbit_mgmt_util:is_authorized_* in 3.10.8); queues and policies
# of vhosts the user has no permissions in are filtered out unless it is `monitoring` or more.
_TAG_NEEDED = {"/api/feature-flags": "administrator", "/api/global-parameters": "policymaker"}


@lean
class ManagementApi:
    """One node's management API. `connected` tells a port check whether TCP got through."""

    client: HttpPool
    base: str
    node: str
    user: str
    max_body: int = MAX_BODY
    connected: bool = False
    # A queue page of a large 3.x cluster costs time in proportion to ALL its queues; once the node
    # has answered, such a slow page is work, not silence: it may take up to this long (the deadline
    # still bounds the run).
    slow_read: float | None = None
    # The run's answers (CollectOptions.answers): within one run a GET to a node is sent once, and
    # whoever asks it again (discovery, the cluster view, the node's own overview) shares that answer.
    answers: dict[str, asyncio.Future[Answer]] | None = None

    async def get_json(self, path: str, params: dict[str, str] | None = None, *, slow: bool = False) -> Any:
        """GET and decode JSON, or raise a typed ProbeFailure naming the node and the path."""
        if self.answers is None:
            return await self._fetch_json(path, params, slow=slow)
        key = f"{self.base}{path}?" + "&".join(f"{k}={v}" for k, v in sorted((params or {}).items()))
        asked = self.answers.get(key)
        if asked is not None:
            connected, value, failure = await asyncio.shield(asked)
            self.connected = self.connected or connected
            if failure is not None:
                raise failure
            return value
        answer: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self.answers[key] = answer
        try:
            value = await self._fetch_json(path, params, slow=slow)
        except ProbeFailure as failure:
            answer.set_result((self.connected, None, failure))
            raise
        except BaseException:  # cut off (the deadline): whoever still waits is told so; a later asker asks again
            del self.answers[key]
            answer.set_result((self.connected, None, TimedOut(
                f"{self.node} management API {path}: cut off by the run's deadline")))
            raise
        answer.set_result((self.connected, value, None))
        return value

    async def _fetch_json(self, path: str, params: dict[str, str] | None, *, slow: bool) -> Any:
        where = f"{self.node} management API {path}"
        target = path + ("?" + urlencode(params) if params else "")
        # The connect has its own timeout (a silent host: not connected), the answer `read` seconds from
        # then, so a peer dripping one byte a second costs one timeout; the whole request, waiting for a
        # free connection included, is bounded by both.
        read = self.slow_read if slow and self.slow_read is not None else self.client.connect_timeout
        budget = self.client.connect_timeout + read
        try:
            async with asyncio.timeout(budget or None):
                resp = await self.client.get(target, max_body=self.max_body, where=where, answer_timeout=read)
        except TimeoutError:  # the connect timeout is part of the budget and fires first: we are connected
            self.connected = True
            raise TimedOut(f"{where}: connected, but no complete answer within {budget:g} s "
                           "(a stalled or slow-dripping peer)") from None
        except ProbeFailure:
            self.connected = self.connected or self.client.connected
            raise
        self.connected = True
        status, ctype, body = resp.status, resp.headers.get("content-type", ""), resp.body
        if status != 200:
            raise self._status_failure(status, body, path, where)
        return decode_json(body, ctype, where)

    def _status_failure(self, status: int, body: bytes, path: str, where: str) -> ProbeFailure:
        if status in (401, 403) and path.startswith("/api/definitions/"):
            # 3.10.8 answers 401 "Not administrator user" to a user whose other GETs of this run succeeded
            return Forbidden(f"{where}: HTTP {status}{_error_reason(body)} — user {self.user!r} needs the "
                             "`administrator` tag to read a vhost's definitions export")
        if status == 401:
            return AuthFailed(
                f"{where}: HTTP 401 — user {self.user!r} was rejected (wrong password, unknown user, or a "
                "user that may only log in from localhost: loopback_users)"
            )
        if status == 403:
            tag = _TAG_NEEDED.get(path, "monitoring")
            return Forbidden(f"{where}: HTTP 403 — user {self.user!r} needs the `{tag}` tag to read this")
        if status == 404:
            return NotFound(
                f"{where}: HTTP 404 — the management plugin is not enabled on this port, or this "
                "RabbitMQ version has no such endpoint"
            )
        return HttpError(f"{where}: HTTP {status}{_error_reason(body)}")


def decode_json(body: bytes, content_type: str, where: str) -> Any:
    """Bytes → JSON value, or BadReply saying what came instead (HTML page, truncated document…)."""
    try:
        return json.loads(body)
    except RecursionError:
        raise BadReply(f"{where}: JSON nested too deeply") from None
    except ValueError as exc:
        head = body.lstrip()[:15].lower()
        if head.startswith((b"<!doctype", b"<html", b"<")) or "html" in content_type:
            raise BadReply(f"{where}: answered an HTML page, not JSON (a proxy or another web service?)") from None
        ends_early = isinstance(exc, json.JSONDecodeError) and (
            exc.msg.startswith("Unterminated") or exc.pos >= len(body.rstrip()))
        if ends_early and body.strip():
            raise BadReply(f"{where}: the JSON answer ends early (truncated after {len(body)} bytes)") from None
        kind = content_type.split(";")[0] or "no content type"
        raise BadReply(f"{where}: the answer is not JSON ({kind}, {len(body)} bytes)") from None


def _error_reason(body: bytes) -> str:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return ""
    if isinstance(data, dict):
        reason = data.get("reason") or data.get("error")
        if isinstance(reason, str):
            return f": {reason[:200]}"
    return ""


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One verifying TLS context per process: loading the CA bundle is the costly part of a client."""
    return ssl.create_default_context(cafile=os.environ.get("SSL_CERT_FILE"), capath=os.environ.get("SSL_CERT_DIR"))


@functools.cache
def _unverified_tls_context() -> ssl.SSLContext:
    """`verify_tls = false`: encrypted, but any certificate is accepted (a lab's self-signed one)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


@asynccontextmanager
async def open_api(spec: NodeSpec, opts: CollectOptions) -> AsyncIterator[ManagementApi]:
    """An API client for one node: basic auth, per-request timeout = the probe timeout, no proxies.

    The password only goes to a node the operator's inventory lists, at the address and port the
    inventory gives (`opts.listed` raises NotInInventory otherwise): never to a member a peer named,
    never to a host or port from an API answer. No redirects are followed, so no peer can send it on.
    """
    mgmt = opts.inventory.management
    if mgmt is None or mgmt.password is None:
        raise ValueError("open_api needs [management] credentials")
    spec = opts.listed(spec)
    tls = None  # plain http: no TLS, and no CA bundle to load (~20 ms per client)
    if mgmt.scheme == "https":
        tls = _tls_context() if mgmt.verify_tls else _unverified_tls_context()
    base = f"{mgmt.scheme}://{_url_host(spec.target)}:{spec.management_port}"
    secret = base64.b64encode(f"{mgmt.user}:{mgmt.password.get_secret_value()}".encode()).decode()
    client = HttpPool(host=spec.target, port=spec.management_port, what=f"{base} ({spec.name})",
                      connect_timeout=opts.timeout, tls=tls, authorization=f"Basic {secret}",
                      max_connections=PAGE_CONCURRENCY + 2)
    try:
        yield ManagementApi(client=client, base=base, node=spec.name, user=mgmt.user, answers=opts.answers,
                            slow_read=max(opts.timeout, opts.deadline / 2))
    finally:
        await client.aclose()


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 2)


# --- per node: /api/overview is the management port check ------------------------------------


async def collect_management_node(spec: NodeSpec, facts: NodeFacts, opts: CollectOptions) -> None:
    """This node's own overview (its RabbitMQ and Erlang versions) over its own management port."""
    if not opts.management:
        return
    if spec.discovered:  # never the password to a member a peer named (collect_node does not even ask)
        await collect_management_port(spec, facts, opts)
        return
    t0 = time.perf_counter()
    async with open_api(spec, opts) as api:
        try:
            overview = parse_overview(await api.get_json("/api/overview", {"columns": OVERVIEW_COLUMNS}))
        except ProbeFailure as failure:
            facts.management = Observation[MgmtOverview](error=ProbeError.of(failure), latency_ms=_ms(t0))
            facts.ports["management"] = _port_after_failure(spec, api.connected, failure, _ms(t0))
            return
    facts.management = Observation[MgmtOverview](value=overview, latency_ms=_ms(t0))
    facts.ports["management"] = PortCheck(
        role="management", port=spec.management_port, status="open", latency_ms=_ms(t0), speaks_protocol=True
    )


async def collect_management_port(spec: NodeSpec, facts: NodeFacts, opts: CollectOptions) -> None:
    """A discovered member's management port: a bare TCP connect, no HTTP, no credentials. Its API is
    not asked (that would send the password to a host a peer named); the reason is recorded."""
    if not opts.management:
        return
    facts.ports["management"] = await probe_port(spec.target, spec.management_port, "management", opts.timeout)
    facts.management = Observation[MgmtOverview](error=ProbeError.of(Skipped(
        f"{DISCOVERED}: its management API was not asked (the password only goes to inventory nodes); "
        "list it in the inventory to query it")))


def _port_after_failure(spec: NodeSpec, connected: bool, failure: ProbeFailure, elapsed: float) -> PortCheck:
    if not connected:
        return port_failure("management", spec.management_port, failure, elapsed)
    speaks = isinstance(failure, AuthFailed | Forbidden | HttpError)  # the API answered, it just said no
    return PortCheck(
        role="management", port=spec.management_port, status="open", latency_ms=elapsed,
        speaks_protocol=speaks, protocol_detail=failure.detail,
    )


# --- one node answers for the cluster ---------------------------------------------------------


def _ask_order(inv: Inventory, local: str | None) -> list[NodeSpec]:
    """The local node first (no network in between), then the inventory order; only the operator's
    nodes (asking sends the password), never a discovered member. A node about to join speaks for
    its own (old) cluster, not the one being judged: it is never asked for the cluster's facts."""
    return sorted((n for n in inv.nodes if not n.discovered and n.join is None), key=lambda n: n.name != local)


@lean
class _Race:
    """Ask node after node, each with a head start over the next; the first answer wins."""

    specs: list[NodeSpec]
    head_start: float
    failures: list[ProbeFailure] = field(default_factory=list)

    async def run(self, ask: Callable[[NodeSpec], Coroutine[Any, Any, T]]) -> tuple[NodeSpec, T] | None:
        pending: dict[asyncio.Task[T], NodeSpec] = {}
        queue = list(self.specs)
        try:
            while queue or pending:
                if queue:
                    spec = queue.pop(0)
                    pending[asyncio.create_task(ask(spec))] = spec
                done, _ = await asyncio.wait(
                    pending, timeout=self.head_start if queue else None, return_when=asyncio.FIRST_COMPLETED
                )
                for task in done:
                    spec = pending.pop(task)
                    exc = task.exception()
                    if exc is None:
                        return spec, task.result()
                    if not isinstance(exc, ProbeFailure):
                        raise exc
                    self.failures.append(exc)
            return None
        finally:
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    def best_failure(self) -> ProbeFailure:
        """The most telling failure: credentials and HTTP problems before unreachable nodes."""
        rank = {"auth_failed": 0, "forbidden": 1, "not_found": 2, "http_error": 3, "bad_reply": 4}
        if not self.failures:
            return ProbeFailure("no node to ask")
        return min(self.failures, key=lambda f: rank.get(f.kind, 9))


def _head_start(opts: CollectOptions) -> float:
    return max(0.05, min(0.5, opts.timeout / 4))


async def collect_management_view(view: View, opts: CollectOptions) -> None:
    """Cluster-wide facts from the first node whose API answers `/api/nodes`."""
    if not opts.management:
        return
    t0 = time.perf_counter()
    race: _Race = _Race(_ask_order(opts.inventory, view.origin.node), _head_start(opts))

    async def ask(spec: NodeSpec) -> list[ClusterNode]:
        async with open_api(spec, opts) as api:
            return parse_nodes(await api.get_json("/api/nodes", {"columns": NODE_COLUMNS}))

    won = await race.run(ask)
    if won is None:
        view.management = Observation[ManagementFacts](error=ProbeError.of(race.best_failure()), latency_ms=_ms(t0))
        return
    spec, members = won
    facts = ManagementFacts(source="api", answered_by=spec.name)
    facts.nodes = Observation(value=members, latency_ms=_ms(t0))
    view.management = Observation[ManagementFacts](value=facts, latency_ms=_ms(t0))
    async with open_api(spec, opts) as api:
        await _fill_cluster_facts(api, facts)
    view.management.latency_ms = _ms(t0)


async def _observe(fetch: Callable[[], Awaitable[T]]) -> Observation[T]:
    t0 = time.perf_counter()
    try:
        return Observation(value=await fetch(), latency_ms=_ms(t0))
    except ProbeFailure as failure:
        return Observation(error=ProbeError.of(failure), latency_ms=_ms(t0))


async def _fill_cluster_facts(api: ManagementApi, facts: ManagementFacts) -> None:
    async def overview() -> MgmtOverview:
        return parse_overview(await api.get_json("/api/overview", {"columns": OVERVIEW_COLUMNS}))  # shared

    async def flags() -> Any:
        return parse_feature_flags(await api.get_json("/api/feature-flags"))

    async def cluster_id() -> Any:
        return parse_cluster_id(await api.get_json("/api/global-parameters"))

    async def policies() -> list[Policy]:
        return parse_policies(await api.get_json("/api/policies"))

    async def operator_policies() -> list[Policy]:
        return parse_policies(await api.get_json("/api/operator-policies"))

    async def policies_in_order() -> None:
        listed, operator = await asyncio.gather(_observe(policies), _observe(operator_policies))
        facts.policies, facts.operator_policies = listed, operator
        vhosts = tied_vhosts(listed.value or [], operator.value or [])
        if vhosts:  # what the deadline may leave: the policies, and why the order is unknown
            facts.policy_order = {vhost: Observation[PolicyOrder](error=ProbeError.of(TimedOut(
                "the run's deadline was reached before the definitions export was read"))) for vhost in vhosts}
            facts.policy_order = await read_policy_order(api, vhosts)

    queue_fetch = QueueFetch(api)
    try:
        over, facts.feature_flags, facts.cluster_id, _, facts.queues = await asyncio.gather(
            _observe(overview), _observe(flags), _observe(cluster_id), policies_in_order(),
            _observe(queue_fetch.run),
        )
    except asyncio.CancelledError:
        # The pages read so far are kept, marked cut off: the HA rules judge them as a part, never a whole.
        facts.queues = queue_fetch.cut_short(
            f"the run's deadline was reached after {queue_fetch.pages_done} of "
            f"{queue_fetch.page_count or '?'} queue pages")
        raise
    if over.value is not None:
        facts.rabbitmq_version = over.value.rabbitmq_version
    if at_least(Version.parse(facts.rabbitmq_version or ""), *DEPRECATED_FEATURES_API):  # 404 before 3.13

        async def deprecated() -> Any:
            return parse_deprecated_features(await api.get_json("/api/deprecated-features/used"))

        facts.deprecated_features = await _observe(deprecated)


async def read_policy_order(api: ManagementApi, vhosts: list[str]) -> dict[str, Observation[PolicyOrder]]:
    """For each vhost whose policies (or operator policies) share a priority (`policy.tied_vhosts`), the
    order its definitions export lists them in — RabbitMQ's tie-break, which `/api/policies` (sorted by
    name) does not show. One GET per vhost, at most MAX_ORDER_VHOSTS; it needs the administrator tag,
    and a refusal is that vhost's typed outcome."""
    asked = vhosts[:MAX_ORDER_VHOSTS]
    gate = asyncio.Semaphore(ORDER_CONCURRENCY)

    async def export_order(vhost: str) -> PolicyOrder:
        path = f"/api/definitions/{quote(vhost, safe='')}"
        async with gate:
            return parse_policy_order(await api.get_json(path, slow=True), f"{api.node} management API {path}")

    found = await asyncio.gather(*(_observe(functools.partial(export_order, vhost)) for vhost in asked))
    order = dict(zip(asked, found, strict=True))
    for vhost in vhosts[MAX_ORDER_VHOSTS:]:
        order[vhost] = Observation[PolicyOrder](error=ProbeError.of(Skipped(
            f"{len(vhosts)} vhosts have policies of equal priority; the definitions export was read for the "
            f"first {MAX_ORDER_VHOSTS} only")))
    return order


@lean
class QueueFetch:
    """All queues, 500 per page: page 1 says how many pages; the rest come concurrently, each
    turned into compact rows as soon as it arrives so a page's JSON never outlives its parsing.

    A peer announces as many pages as it likes (`page_count` 1,000,000 took 38 s and 1.9 GB): at most
    `max_rows` rows are fetched, by a few workers taking page numbers in turn (no task per announced
    page), and what the deadline cuts off keeps the pages read so far. Either way the table says it was
    cut off (`QueueTable.cut_off`), and the rules judge it as a part."""

    api: ManagementApi
    page_size: int = PAGE_SIZE
    concurrency: int = PAGE_CONCURRENCY
    statistics: bool = True  # False: disable_stats=true (no operator_policy/effective_policy_definition)
    max_rows: int = MAX_QUEUE_ROWS
    page_count: int | None = None
    total: int | None = None
    pages_done: int = 0
    pages: dict[int, list[Any]] = field(default_factory=dict)

    async def page(self, number: int) -> tuple[list[Any], int, int | None]:
        params = {"page": str(number), "page_size": str(self.page_size), "columns": QUEUE_COLUMNS,
                  "pagination": "true"}
        if not self.statistics:
            params["disable_stats"] = "true"
        raw = await self.api.get_json("/api/queues", params, slow=True)
        rows, page_count, total = parse_queue_page(raw)
        self.pages_done += 1
        return rows, page_count, total

    async def run(self) -> QueueTable:
        rows, self.page_count, self.total = await self.page(1)
        self.pages[1] = rows
        last = min(self.page_count, max(1, self.max_rows // max(1, self.page_size)))
        numbers = iter(range(2, last + 1))  # shared by the workers: each page is taken once, in order

        async def worker() -> None:
            for number in numbers:
                self.pages[number] = (await self.page(number))[0]

        await asyncio.gather(*(worker() for _ in range(min(self.concurrency, last - 1))))
        cut_off = None
        if last < self.page_count:
            cut_off = (f"the API announced {self.page_count:,} pages of {self.page_size} queues; only the "
                       f"first {last:,} were read (at most {self.max_rows:,} queues per run)")
        return self.table(cut_off)

    def table(self, cut_off: str | None) -> QueueTable:
        seen: set[tuple[str, str]] = set()
        table: list[Any] = []
        for number in sorted(self.pages):
            for row in self.pages.pop(number):
                key = (row.vhost, row.name)
                if key not in seen:  # queues created or deleted mid-fetch shift rows across pages
                    seen.add(key)
                    table.append(row)
        return QueueTable(rows=table, total_count=self.total, pages=self.pages_done, page_count=self.page_count,
                          cut_off=cut_off)

    def cut_short(self, why: str) -> Observation[QueueTable]:
        """What the deadline leaves: the pages read so far as a cut-off table, or, before page 1, a timeout."""
        if self.page_count is None:
            return Observation[QueueTable](error=ProbeError.of(TimedOut(why)))
        return Observation[QueueTable](value=self.table(why))


# --- discovery: before probing, learn the members from one node --------------------------------


async def discover(
    inv: Inventory, opts: CollectOptions, local: str | None = None
) -> tuple[Inventory, Discovery | None]:
    """Extend the inventory with the cluster members it does not list, marked `discovered`.

    Their address is the host part of the name and their AMQP/management ports what `/api/overview`
    listeners say — all from an answer we cannot authenticate (a hostile API, or anyone on its plain-HTTP
    path, writes it). So they are only probed by what presents no secret (collect_node): never the
    cookie handshake, never the management password, and never a distribution port the answer names (a
    relayed handshake would hand the attacker an authenticated link to a real node). Without
    credentials, nothing to ask."""
    if inv.management is None:
        return inv, None
    specs = _ask_order(inv, local)
    race: _Race = _Race(specs, _head_start(opts))

    async def ask(spec: NodeSpec) -> tuple[list[str], MgmtOverview | None]:
        async with open_api(spec, opts) as api:
            names, over = await asyncio.gather(
                api.get_json("/api/nodes", {"columns": NODE_COLUMNS}),  # the same GETs as the cluster view's
                _observe(lambda: api.get_json("/api/overview", {"columns": OVERVIEW_COLUMNS})),
            )
            try:
                listed = parse_overview(over.value) if over.value is not None else None
            except ProbeFailure:
                listed = None  # without listeners, discovered nodes get the default ports
            return parse_node_names(names), listed

    record = Discovery(asked=[s.name for s in specs])
    won = await race.run(ask)
    if won is None:
        record.error = ProbeError.of(race.best_failure())
        return inv, record
    spec, (members, overview) = won
    listed = {n.name for n in inv.nodes}
    extra = list(dict.fromkeys(name for name in members if name not in listed))  # in order, once each
    ports = _listener_ports(overview)
    added: list[NodeSpec] = []
    # A peer names as many members as it likes (3,000 cost 17 s of probing): at most MAX_DISCOVERED are
    # added; how many were left out is recorded and reported (RUN004), never silently dropped.
    for i, name in enumerate(extra):
        if len(added) == MAX_DISCOVERED:
            record.left_out = len(extra) - i
            break
        found = _discovered_spec(name, ports.get(name, {}))
        if found is not None:
            added.append(found)
    kept = {s.name for s in added}
    record.answered_by, record.added = spec.name, [s.name for s in added]
    record.members = [name for name in dict.fromkeys(members) if name in listed or name in kept]
    if not added:
        return inv, record
    return inv.model_copy(update={"nodes": [*inv.nodes, *added]}), record


def _listener_ports(overview: MgmtOverview | None) -> dict[str, dict[str, int]]:
    """Each node's AMQP/management ports as `/api/overview` listeners give them (the first of each)."""
    # No "clustering" (dist_port): a distribution port is only ever learned from EPMD at the node's address.
    roles = {"amqp": "amqp_port", "amqp/ssl": "amqps_port", "http": "management_port", "https": "management_port"}
    ports: dict[str, dict[str, int]] = {}
    for listener in overview.listeners if overview else []:
        key = roles.get(listener.protocol)
        if key is not None:
            ports.setdefault(listener.node, {}).setdefault(key, listener.port)
    return ports


def _discovered_spec(name: str, ports: dict[str, int]) -> NodeSpec | None:
    """The peer-named member as a node spec, or None when its name or a port is not plainly valid."""
    try:
        spec: NodeSpec = strict_build(NodeSpec, {"name": name, "discovered": True, **ports})
    except Decline:
        return None
    return spec
