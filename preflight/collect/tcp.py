"""TCP connect probe: open / refused / timeout / unresolvable / unreachable, with latency.

A bare connect-and-close is silent in RabbitMQ's logs at the default level, so it is the
cheapest honest test of a port. Protocol probes reuse the connection this module opens, so that
a port is never dialled twice in one run.
"""

from __future__ import annotations

import asyncio
import time

from rabbitmq_preflight.facts import PortCheck, PortRole
from rabbitmq_preflight.outcomes import Closed, ProbeFailure, classify_os_error

MAX_READ = 1 << 20  # no reply we parse is larger than this; anything bigger is a bad peer


async def open_connection(
    host: str, port: int, timeout: float
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, float]:
    """Connect or raise a typed ProbeFailure. Returns the streams and the connect latency in ms."""
    t0 = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port, limit=MAX_READ)
    except (OSError, TimeoutError) as exc:
        raise classify_os_error(exc, f"{host}:{port}") from None
    return reader, writer, (time.perf_counter() - t0) * 1000


async def close_quietly(writer: asyncio.StreamWriter) -> None:
    writer.close()
    try:
        async with asyncio.timeout(0.5):
            await writer.wait_closed()
    except (OSError, TimeoutError):
        pass


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


__all__ = ["close_quietly", "open_connection", "port_failure", "probe_port", "read_exactly"]
