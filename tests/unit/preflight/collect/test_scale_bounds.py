"""Bounds that hold at any size, asserted by instrumenting — not by timing: open probe sockets never
exceed the run's socket budget, blocking calls never exceed the pool's threads, and a local resource
limit is its own outcome, never "refused" or "filtered"."""

from __future__ import annotations

import asyncio
import errno
import gc
import socket
import threading
import time

import pytest

from rabbitmq_preflight.collect import NodeCollector, collect, tcp
from rabbitmq_preflight.collect import resolve as resolve_module
from rabbitmq_preflight.collect.options import CollectOptions
from rabbitmq_preflight.collect.threads import DaemonThreadExecutor
from rabbitmq_preflight.facts import NodeFacts, PortCheck
from rabbitmq_preflight.inventory import Inventory, NodeSpec
from rabbitmq_preflight.outcomes import LocalLimit, classify_os_error
from rabbitmq_preflight.record import Record
from rabbitmq_preflight.redact import Redactor


def test_emfile_is_a_local_limit_not_a_firewall() -> None:
    for code in (errno.EMFILE, errno.ENFILE, errno.EADDRNOTAVAIL, errno.ENOBUFS):
        failure = classify_os_error(OSError(code, "x"), "127.0.0.1:5672")
        assert isinstance(failure, LocalLimit) and failure.kind == "local_limit", code
        assert "local limit" in failure.detail


def test_socket_budget_follows_the_fd_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("resource.getrlimit", lambda _: (1024, 4096))
    assert tcp.socket_limit() == (1024 - tcp.FD_RESERVE) // 2
    monkeypatch.setattr("resource.getrlimit", lambda _: (200, 4096))
    assert tcp.socket_limit() == 36
    monkeypatch.setattr("resource.getrlimit", lambda _: (10**6, 10**6))
    assert tcp.socket_limit() == tcp.MAX_SOCKETS


def _refusing_ports(n: int) -> list[int]:
    ports = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        ports.append(s.getsockname()[1])
        s.close()  # bound then closed: nothing listens there, a connect is refused
    return ports


def test_open_sockets_never_exceed_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    open_now = 0
    peak = 0
    real_socket = socket.socket

    class Counted(real_socket):  # type: ignore[misc,valid-type]
        def __init__(self, *args: object, **kwargs: object) -> None:
            nonlocal open_now, peak
            super().__init__(*args, **kwargs)
            self.counted = len(args) < 4 and "fileno" not in kwargs  # a probe's, not the loop's socketpair
            if self.counted:
                open_now += 1
                peak = max(peak, open_now)

        def close(self) -> None:
            nonlocal open_now
            if getattr(self, "counted", False) and self.fileno() != -1:
                open_now -= 1
            super().close()

    ports = _refusing_ports(200)
    monkeypatch.setattr(socket, "socket", Counted)

    async def main() -> list[str]:
        budget = tcp.SocketBudget(limit=5)
        tcp.BUDGET.set(budget)
        results = await asyncio.gather(*(tcp.probe_port("127.0.0.1", p, "amqp", 2.0) for p in ports))
        assert budget.peak <= 5 and budget.in_use == 0
        return [r.status for r in results]

    statuses = asyncio.run(main())
    assert set(statuses) == {"refused"}
    assert peak <= 5


def test_a_thousand_refused_nodes_are_refused_and_within_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """The scale case in small: far more nodes than sockets; every port reads refused, none filtered."""
    budgets: list[tcp.SocketBudget] = []
    real = tcp.SocketBudget

    def small(limit: int | None = None) -> tcp.SocketBudget:
        budgets.append(real(limit=16))
        return budgets[-1]

    monkeypatch.setattr("rabbitmq_preflight.collect.SocketBudget", small)
    nodes = [{"name": f"rabbit@n{i}", "address": f"127.77.{i // 250}.{i % 250 + 1}"} for i in range(300)]
    inv = Inventory.model_validate({"nodes": nodes, "source": "test"})
    facts = collect(inv, CollectOptions.of(inv, 2.0, 60.0, no_handshake=True))
    statuses = {c.status for nf in facts.views[0].nodes.values() for c in nf.ports.values()}
    assert statuses == {"refused"}
    assert budgets and budgets[0].peak <= 16 and budgets[0].in_use == 0


def test_blocking_calls_never_exceed_the_thread_bound() -> None:
    pool = DaemonThreadExecutor(max_threads=4)
    release = threading.Event()
    running = 0
    most = 0
    lock = threading.Lock()

    def stuck() -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        release.wait(10)
        with lock:
            running -= 1

    before = threading.active_count()
    futures = [pool.submit(stuck) for _ in range(300)]
    time.sleep(0.2)
    assert threading.active_count() - before <= 4 and pool.peak_threads == 4 and most <= 4
    queued = futures[-1]
    assert queued.cancel()  # still queued: never runs
    release.set()
    for f in futures[:-1]:
        f.result(timeout=10)
    assert pool.peak_threads == 4 and most <= 4


def test_a_lookup_left_queued_is_a_local_limit_not_a_dns_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    pool = DaemonThreadExecutor(max_threads=1)
    release = threading.Event()
    pool.submit(release.wait, 10)  # the only resolver thread is busy
    monkeypatch.setattr(resolve_module, "submit_lookup", pool.submit)
    try:
        with pytest.raises(LocalLimit, match=r"not attempted .* resolver threads"):
            asyncio.run(resolve_module.resolve_system("rabbit-host.invalid", 0.2))
    finally:
        release.set()


def test_many_cancelled_waiters_cost_nothing_and_lose_no_slot() -> None:
    async def main() -> None:
        budget = tcp.SocketBudget(limit=2)
        await budget.acquire()
        await budget.acquire()
        waiters = [asyncio.create_task(budget.acquire()) for _ in range(20_000)]
        await asyncio.sleep(0)
        for w in waiters[:-1]:
            w.cancel()
        await asyncio.gather(*waiters[:-1], return_exceptions=True)
        budget.release()  # goes past 19,999 cancelled waiters to the live one
        await asyncio.wait_for(waiters[-1], 1)
        assert budget.in_use == 2
        budget.release(2)
        assert budget.in_use == 0
        async with budget.hold(2):
            assert budget.in_use == 2

    asyncio.run(main())


def _only_collector(monkeypatch: pytest.MonkeyPatch, collector: NodeCollector) -> None:
    for name in ("NODE_COLLECTORS", "VIEW_COLLECTORS"):
        monkeypatch.setattr(f"rabbitmq_preflight.collect.{name}", [collector] if name == "NODE_COLLECTORS" else [])


def test_nodes_in_flight_never_exceed_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every node whose ports answer at once steps in the same turn of the event loop, and the deadline's
    timer waits for that turn: the nodes in flight are capped whatever the socket budget allows."""
    in_flight = peak = 0

    async def counted(spec: NodeSpec, nf: NodeFacts, opts: CollectOptions) -> None:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        for _ in range(3):
            await asyncio.sleep(0)
        in_flight -= 1

    _only_collector(monkeypatch, counted)
    monkeypatch.setattr("rabbitmq_preflight.collect.MAX_IN_FLIGHT", 10)
    nodes = [{"name": f"rabbit@n{i}", "address": f"127.78.0.{i + 1}"} for i in range(200)]
    inv = Inventory.model_validate({"nodes": nodes, "source": "test"})
    collect(inv, CollectOptions.of(inv, 2.0, 60.0, no_handshake=True))
    assert peak == 10 and in_flight == 0


def test_no_full_garbage_collection_runs_during_collection(monkeypatch: pytest.MonkeyPatch) -> None:
    """A full collection walks the whole heap in one turn of the event loop (150-270 ms at 10,000 nodes),
    and the deadline's timer waits for it: only young collections run until collection is done."""
    kept: list[object] = []

    async def allocating(spec: NodeSpec, nf: NodeFacts, opts: CollectOptions) -> None:
        kept.append([[] for _ in range(20_000)])  # long-lived: the old generation grows well past a quarter
        await asyncio.sleep(0)

    _only_collector(monkeypatch, allocating)
    full: list[int] = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and info["generation"] == 2:
            full.append(1)

    nodes = [{"name": f"rabbit@n{i}", "address": f"127.79.0.{i + 1}"} for i in range(40)]
    inv = Inventory.model_validate({"nodes": nodes, "source": "test"})
    threshold = gc.get_threshold()
    gc.callbacks.append(count)
    try:
        collect(inv, CollectOptions.of(inv, 2.0, 60.0, no_handshake=True))
    finally:
        gc.callbacks.remove(count)
    assert len(kept) == 40 and full == []
    assert gc.get_threshold() == threshold  # restored: the process collects as before afterwards


PASSWORD = "s3cret-Pa55word"


def _echoing_inventory(n: int) -> Inventory:
    nodes = [{"name": f"rabbit@n{i}", "address": f"127.80.0.{i + 1}"} for i in range(n)]
    return Inventory.model_validate({"nodes": nodes, "source": "test",
                                     "management": {"user": "monitoring", "password": PASSWORD}})


def _echo(nf: NodeFacts) -> None:
    nf.ports["amqp"] = PortCheck(role="amqp", port=5672, status="error", detail=f"the peer said: {PASSWORD}")


def test_each_finished_node_is_scrubbed_inside_the_loop_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """At 10,000 nodes one walk after the deadline cost 0.1-0.2 s past it: a node's facts are scrubbed of
    our secrets as soon as its collectors are done, while the loop runs, and never walked again."""
    async def echoing(spec: NodeSpec, nf: NodeFacts, opts: CollectOptions) -> None:
        await asyncio.sleep(0)
        _echo(nf)

    _only_collector(monkeypatch, echoing)
    walks: list[bool] = []  # per walk of a node's facts: inside the event loop?
    real_walk = Redactor._walk

    def counting(self: Redactor, model: Record, done: set[int]) -> None:
        if isinstance(model, NodeFacts):
            try:
                asyncio.get_running_loop()
                walks.append(True)
            except RuntimeError:
                walks.append(False)
        real_walk(self, model, done)

    monkeypatch.setattr(Redactor, "_walk", counting)
    inv = _echoing_inventory(20)
    facts = collect(inv, CollectOptions.of(inv, 2.0, 60.0, no_handshake=True))
    assert walks == [True] * 20
    assert {nf.ports["amqp"].detail for nf in facts.views[0].nodes.values()} == {"the peer said: [redacted]"}


def test_a_node_cut_off_by_the_deadline_is_scrubbed_after_it() -> None:
    """Its collectors never finished, so the loop never scrubbed it: the walk after collection does."""
    async def echo_then_hang(spec: NodeSpec, nf: NodeFacts, opts: CollectOptions) -> None:
        _echo(nf)
        await asyncio.sleep(60)

    with pytest.MonkeyPatch.context() as monkeypatch:
        _only_collector(monkeypatch, echo_then_hang)
        inv = _echoing_inventory(3)
        facts = collect(inv, CollectOptions.of(inv, 2.0, 0.3, no_handshake=True))
    assert facts.views[0].origin.deadline_reached
    assert {nf.ports["amqp"].detail for nf in facts.views[0].nodes.values()} == {"the peer said: [redacted]"}
