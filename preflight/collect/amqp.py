"""AMQP 0-9-1 `Connection.Start` probe: product, version, platform and cluster name, unauthenticated.

We send the 8-byte protocol header; a RabbitMQ node answers with one method frame
(`Connection.Start`, class 10 method 10) whose server-properties table carries what we want, then we
hang up. A peer that answers with another protocol header, HTTP, garbage or nothing at all gets a
typed error (`BadReply`, `Closed`, `TimedOut`), never an exception the rules must parse.
Byte layout: docs/reference.md §6 (verified against RabbitMQ 3.10.8).
"""

from __future__ import annotations

import asyncio
import struct
import time
from typing import TYPE_CHECKING, Any

from rabbitmq_preflight.collect.tcp import close_quietly, open_connection, port_failure, probe_port, read_exactly
from rabbitmq_preflight.facts import AmqpServer, NodeFacts, Observation, PortCheck, ProbeError
from rabbitmq_preflight.inventory import NodeSpec
from rabbitmq_preflight.outcomes import BadReply, ProbeFailure, TimedOut

if TYPE_CHECKING:
    from rabbitmq_preflight.collect.options import CollectOptions

PROTOCOL_HEADER = b"AMQP\x00\x00\x09\x01"
FRAME_METHOD = 1
FRAME_END = 0xCE
MAX_FRAME = 128 * 1024  # Connection.Start is ~500 bytes; RabbitMQ's frame_max floor is 4096
_MAX_DEPTH = 8

_FIXED: dict[str, str] = {
    "b": ">b", "B": ">B", "s": ">h", "u": ">H", "I": ">i", "i": ">I",
    "l": ">q", "L": ">q", "T": ">Q", "f": ">f", "d": ">d",
}


class _Cursor:
    """Bounds-checked reads over a byte buffer: running off the end is a BadReply, not IndexError."""

    def __init__(self, data: bytes, what: str) -> None:
        self.data, self.pos, self.what = data, 0, what

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise BadReply(f"{self.what}: truncated at byte {self.pos} (wanted {n} more)")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str) -> Any:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def done(self) -> bool:
        return self.pos >= len(self.data)


def _decode_value(cur: _Cursor, depth: int) -> Any:
    kind = chr(cur.take(1)[0])
    if kind == "S":
        return cur.take(cur.unpack(">I")).decode("utf-8", "replace")
    if kind == "t":
        return cur.take(1) != b"\x00"
    if kind == "F":
        return decode_table(cur.take(cur.unpack(">I")), depth + 1)
    if kind == "A":
        inner = _Cursor(cur.take(cur.unpack(">I")), cur.what)
        items = []
        while not inner.done():
            items.append(_decode_value(inner, depth + 1))
        return items
    if kind in _FIXED:
        return cur.unpack(_FIXED[kind])
    if kind == "D":
        scale = cur.unpack(">B")
        return cur.unpack(">I") / (10**scale)
    if kind == "x":
        return cur.take(cur.unpack(">I")).hex()
    if kind == "V":
        return None
    raise BadReply(f"{cur.what}: unknown field type {kind!r} at byte {cur.pos - 1}")


def decode_table(data: bytes, depth: int = 0) -> dict[str, Any]:
    """Decode an AMQP 0-9-1 field table (the body, without its length prefix)."""
    if depth > _MAX_DEPTH:
        raise BadReply("field table nested too deeply")
    cur = _Cursor(data, "field table")
    out: dict[str, Any] = {}
    while not cur.done():
        key = cur.take(cur.unpack(">B")).decode("utf-8", "replace")
        out[key] = _decode_value(cur, depth)
    return out


def decode_frame_header(head: bytes) -> int:
    """Validate the 7-byte frame header of the expected reply and return the payload size."""
    if head.startswith(b"AMQP"):
        raise BadReply(
            "the server refused our AMQP 0-9-1 header and offered "
            f"AMQP {'.'.join(str(b) for b in head[4:7])}… instead (another protocol version, or not RabbitMQ)"
        )
    if head[:4] in (b"HTTP", b"<htm", b"<!DO"):
        raise BadReply("an HTTP server answered on the AMQP port")
    frame_type, channel, size = struct.unpack(">BHI", head)
    if frame_type != FRAME_METHOD or channel != 0:
        raise BadReply(f"not an AMQP method frame (type {frame_type}, channel {channel})")
    if size > MAX_FRAME:
        raise BadReply(f"frame size {size} is implausible for Connection.Start")
    return int(size)


def decode_connection_start(payload: bytes) -> AmqpServer:
    """Decode the payload of a `Connection.Start` method frame."""
    cur = _Cursor(payload, "Connection.Start")
    class_id, method_id = cur.unpack(">H"), cur.unpack(">H")
    if (class_id, method_id) != (10, 10):
        raise BadReply(f"expected Connection.Start (10,10), got method ({class_id},{method_id})")
    major, minor = cur.unpack(">B"), cur.unpack(">B")
    props = decode_table(cur.take(cur.unpack(">I")))
    mechanisms = cur.take(cur.unpack(">I")).decode("utf-8", "replace").split()
    locales = cur.take(cur.unpack(">I")).decode("utf-8", "replace").split()

    def text(key: str) -> str | None:
        value = props.get(key)
        return value if isinstance(value, str) else None

    return AmqpServer(
        product=text("product"),
        version=text("version"),
        platform=text("platform"),
        cluster_name=text("cluster_name"),
        mechanisms=mechanisms,
        locales=locales,
        protocol=f"{major}-{minor}",
    )


def decode_reply(data: bytes) -> AmqpServer:
    """Decode a complete server reply (frame header, payload, frame end) from bytes."""
    if len(data) < 7:
        raise BadReply(f"reply too short ({len(data)} bytes)")
    size = decode_frame_header(data[:7])
    if len(data) < 7 + size + 1:
        raise BadReply(f"frame truncated: {len(data) - 7} of {size + 1} bytes")
    if data[7 + size] != FRAME_END:
        raise BadReply(f"bad frame end byte 0x{data[7 + size]:02x}")
    return decode_connection_start(data[7 : 7 + size])


async def read_connection_start(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, what: str
) -> AmqpServer:
    """Send the protocol header on an open connection and decode the reply."""
    writer.write(PROTOCOL_HEADER)
    await writer.drain()
    head = await read_exactly(reader, 7, what)
    size = decode_frame_header(head)
    body = await read_exactly(reader, size + 1, what)
    return decode_reply(head + body)


async def collect_amqp(spec: NodeSpec, facts: NodeFacts, opts: CollectOptions) -> None:
    """Connect to the AMQP port (that is the port check) and read Connection.Start on it."""
    what = f"{spec.target}:{spec.amqp_port}"
    t0 = time.perf_counter()
    try:
        reader, writer, latency = await open_connection(spec.target, spec.amqp_port, opts.timeout)
    except ProbeFailure as failure:
        elapsed = (time.perf_counter() - t0) * 1000
        facts.ports["amqp"] = port_failure("amqp", spec.amqp_port, failure, elapsed)
        facts.amqp = Observation[AmqpServer](error=ProbeError.of(failure), latency_ms=round(elapsed, 2))
        return
    check = PortCheck(role="amqp", port=spec.amqp_port, status="open", latency_ms=round(latency, 2))
    facts.ports["amqp"] = check
    try:
        async with asyncio.timeout(opts.timeout):
            server = await read_connection_start(reader, writer, what)
    except (ProbeFailure, TimeoutError) as exc:
        problem = exc if isinstance(exc, ProbeFailure) else _silent(what)
        check.speaks_protocol, check.protocol_detail = False, problem.detail
        facts.amqp = Observation[AmqpServer](
            error=ProbeError.of(problem), latency_ms=round((time.perf_counter() - t0) * 1000, 2)
        )
    else:
        check.speaks_protocol = True
        facts.amqp = Observation[AmqpServer](
            value=server, latency_ms=round((time.perf_counter() - t0) * 1000, 2)
        )
    finally:
        await close_quietly(writer)


def _silent(what: str) -> ProbeFailure:
    return TimedOut(f"{what}: accepted the connection but sent nothing back (not an AMQP listener?)")


async def collect_amqps(spec: NodeSpec, facts: NodeFacts, opts: CollectOptions) -> None:
    """AMQP over TLS: a bare connect (we do not speak TLS); only when the inventory names the port."""
    if spec.amqps_port:
        facts.ports["amqps"] = await probe_port(spec.target, spec.amqps_port, "amqps", opts.timeout)
