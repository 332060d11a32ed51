"""TCP connect probe: open / refused / timeout / unresolvable / unreachable, with latency.

A bare connect-and-close is silent in RabbitMQ's logs at the default level, so it is the
cheapest honest test of a port. Protocol probes reuse the connection this module opens, so that
a port is never dialled twice in one run.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import os
import resource
import select
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

from rabbitmq_preflight.facts import PortCheck, PortRole
from rabbitmq_preflight.outcomes import Closed, ProbeFailure, classify_os_error

MAX_READ = 1 << 20  # no reply we parse is larger than this; anything bigger is a bad peer
FD_RESERVE = 128  # descriptors kept for everything else: files, reports, the event loop, httpx's pools
MAX_SOCKETS = 2048  # more sockets at once only queue in the kernel: 2,048 refused ports take ~0.1 s


def socket_limit() -> int:
    """How many probe sockets may be open at once: half of what the fd limit leaves after a reserve.
    At the limit, a connect fails with EMFILE — a local limit that used to read as a firewall."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return MAX_SOCKETS
    return max(8, min(MAX_SOCKETS, (soft - FD_RESERVE) // 2))


class SocketBudget:
    """A semaphore on open probe sockets, held from before the connect until close_quietly.

    A probe waiting for a slot has not started: its own timeout starts when it gets one, so a queue
    on this host never reads as a silent peer; the run's deadline cancels what is still waiting
    (not attempted, reported unknown). `peak` is what tests assert on."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit = limit if limit is not None else socket_limit()
        self._free = _Slots(self.limit)
        self._several = asyncio.Lock()  # multi-slot holders queue here, so partial holds never deadlock
        self.in_use = 0
        self.peak = 0

    async def acquire(self, n: int = 1) -> None:
        n = min(n, self.limit)
        if n == 1:
            await self._free.acquire()
        else:
            async with self._several:
                got = 0
                try:
                    while got < n:
                        await self._free.acquire()
                        got += 1
                except BaseException:  # cancelled while waiting: give back what was taken
                    for _ in range(got):
                        self._free.release()
                    raise
        self.in_use += n
        self.peak = max(self.peak, self.in_use)

    def release(self, n: int = 1) -> None:
        n = min(n, self.limit)
        self.in_use -= n
        for _ in range(n):
            self._free.release()

    @contextlib.asynccontextmanager
    async def hold(self, n: int = 1) -> AsyncIterator[None]:
        """n slots for a block that opens its own connections (an HTTP client)."""
        await self.acquire(n)
        try:
            yield
        finally:
            self.release(n)


class _Slots:
    """A FIFO semaphore whose acquire, release and cancel are O(1) with 100,000 waiters.

    asyncio.Semaphore scans its waiters on every release and removes a cancelled one from the middle
    of a deque: at 10,000 nodes that alone took 26 s of a 5 s deadline. Here a release hands its slot
    to the first live waiter; cancelled waiters are skipped when reached."""

    def __init__(self, value: int) -> None:
        self._value = value
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    async def acquire(self) -> None:
        if self._value > 0 and not self._waiters:
            self._value -= 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():  # handed a slot, then cancelled: pass it on
                self.release()
            raise

    def release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot goes straight to it
                return
        self._value += 1


# Set by collect() for its run; None (tests calling probes directly): no bound.
BUDGET: contextvars.ContextVar[SocketBudget | None] = contextvars.ContextVar("preflight_socket_budget", default=None)
_HELD: dict[int, SocketBudget] = {}  # id(writer) → the budget its slot came from


async def open_connection(
    host: str, port: int, timeout: float
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, float]:
    """Connect or raise a typed ProbeFailure. Returns the streams and the connect latency in ms.
    Takes a slot of the run's SocketBudget first; close_quietly gives it back."""
    budget = BUDGET.get()
    if budget is not None:
        await budget.acquire()
    t0 = time.perf_counter()
    try:
        sock = await _connect(host, port, timeout)
        reader, writer = await asyncio.open_connection(sock=sock, limit=MAX_READ)
    except (OSError, TimeoutError) as exc:
        if budget is not None:
            budget.release()
        raise classify_os_error(exc, f"{host}:{port}") from None
    except BaseException:
        if budget is not None:
            budget.release()
        raise
    if budget is not None:
        _HELD[id(writer)] = budget
    return reader, writer, (time.perf_counter() - t0) * 1000


async def _addresses(host: str, port: int) -> list[tuple[int, int, int, tuple[Any, ...]]]:
    try:  # an address literal needs no resolver thread
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
    except socket.gaierror:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [(family, kind, proto, addr) for family, kind, proto, _, addr in infos]


def _signal(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def _connect(host: str, port: int, timeout: float) -> socket.socket:
    """A connected non-blocking socket, or OSError / TimeoutError.

    The outcome is read from the socket itself (SO_ERROR, writability) once it signals or the time is
    up, never from how fast the event loop got round to it: on a busy loop the RST of a refused port
    may have arrived and simply not been read yet — at 10,000 nodes that turned refused ports into
    "filtered"."""
    loop = asyncio.get_running_loop()
    deadline = time.perf_counter() + timeout
    async with asyncio.timeout(timeout):
        addresses = await _addresses(host, port)
    last: BaseException = TimeoutError()
    for family, kind, proto, addr in addresses:
        sock = socket.socket(family, kind, proto)
        try:
            sock.setblocking(False)
            try:
                sock.connect(addr)
                return sock
            except BlockingIOError:  # EINPROGRESS: wait until it is writable (connected, or failed)
                pass
            signalled: asyncio.Future[None] = loop.create_future()
            fd = sock.fileno()  # not the socket: the selector formats an unknown key's repr (getsockname…)
            loop.add_writer(fd, _signal, signalled)
            try:
                await asyncio.wait({signalled}, timeout=max(0.0, deadline - time.perf_counter()))
            finally:
                loop.remove_writer(fd)
            error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if error:
                raise OSError(error, os.strerror(error))
            if signalled.done() or select.select([], [sock], [], 0)[1]:
                return sock
            last = TimeoutError()
        except OSError as exc:
            last = exc
        except BaseException:
            sock.close()
            raise
        sock.close()
    raise last


async def close_quietly(writer: asyncio.StreamWriter) -> None:
    budget = _HELD.pop(id(writer), None)
    try:
        task = asyncio.current_task()
        if task is not None and task.cancelling():  # the deadline: drop the connection, wait for nothing
            writer.transport.abort()
            return
        writer.close()
        try:
            async with asyncio.timeout(0.5):
                await writer.wait_closed()
        except (OSError, TimeoutError):
            pass
    finally:
        if budget is not None:
            budget.release()


async def read_exactly(reader: asyncio.StreamReader, n: int, what: str) -> bytes:
    """Read exactly n bytes or raise Closed/TimedOut (the caller bounds time with asyncio.timeout)."""
    try:
        return await reader.readexactly(n)
    except asyncio.IncompleteReadError as exc:
        raise Closed(f"{what}: connection closed after {len(exc.partial)} of {n} bytes") from None
    except (OSError, TimeoutError) as exc:
        raise classify_os_error(exc, what) from None


async def probe_port(host: str, port: int, role: PortRole, timeout: float) -> PortCheck:
    """Connect and close immediately."""
    t0 = time.perf_counter()
    try:
        _, writer, latency = await open_connection(host, port, timeout)
    except ProbeFailure as failure:
        return port_failure(role, port, failure, (time.perf_counter() - t0) * 1000)
    await close_quietly(writer)
    return PortCheck(role=role, port=port, status="open", latency_ms=round(latency, 2))


def port_failure(role: PortRole, port: int, failure: ProbeFailure, elapsed_ms: float) -> PortCheck:
    return PortCheck(
        role=role, port=port, status=failure.kind, latency_ms=round(elapsed_ms, 2), detail=failure.detail
    )


__all__ = [
    "BUDGET", "SocketBudget", "close_quietly", "open_connection", "port_failure", "probe_port", "read_exactly",
    "socket_limit",
]
