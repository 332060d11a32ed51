"""EPMD probe (TCP 4369): which nodes a host has registered, and the real distribution port of one.

EPMD answers exactly one request per connection. `NAMES_REQ` lists every registered node with its
distribution port (RabbitMQ's CLI tools register as `rabbitmqcli-<pid>-<prefix>` while they run; those
entries are counted and left out). `PORT_PLEASE2_REQ` returns one node's port and protocol version
range, which is how Erlang itself finds a peer: never compute "AMQP port + 20000" when EPMD can say.
Byte layouts: docs/reference.md §5 (verified against OTP 25.2.3). All reads are size-limited
and every malformed reply is a typed `BadReply`.
"""

from __future__ import annotations

import asyncio
import re
import struct
import time

from rabbitmq_preflight.collect.tcp import close_quietly, open_connection, port_failure, read_exactly
from rabbitmq_preflight.facts import (
    DistRegistration,
    EpmdNames,
    EpmdNode,
    NodeType,
    Observation,
    PortCheck,
    ProbeError,
)
from rabbitmq_preflight.outcomes import BadReply, NotFound, ProbeFailure, TimedOut, classify_os_error

NAMES_REQ = b"n"  # 110
PORT_PLEASE2_REQ = b"z"  # 122
PORT2_RESP = 0x77  # 119 'w'
MAX_NAMES_REPLY = 64 * 1024  # ~40 bytes per registered node; a host with 1,500 nodes is not RabbitMQ
MAX_EXTRA = 1024  # PORT2 "extra" field: empty for every node we know
CLI_PREFIX = "rabbitmqcli-"
NODE_TYPES: dict[int, NodeType] = {77: "normal", 72: "hidden"}  # 'M', 'H'
_NAME_LINE = re.compile(r"name (\S+) at port (\d+)")


def frame_request(body: bytes) -> bytes:
    """EPMD request framing: Len:u16 | Request."""
    return struct.pack(">H", len(body)) + body


def port_please2_request(alive: str) -> bytes:
    return frame_request(PORT_PLEASE2_REQ + alive.encode("utf-8"))


def decode_names(data: bytes) -> EpmdNames:
    """Decode a complete NAMES reply: `EPMDPort:u32`, then `name <alive> at port <port>` lines."""
    if len(data) < 4:
        raise BadReply(f"EPMD NAMES reply too short ({len(data)} bytes)")
    (epmd_port,) = struct.unpack(">I", data[:4])
    try:
        text = data[4:].decode("ascii")
    except UnicodeDecodeError:
        raise BadReply("EPMD NAMES reply is not ASCII text: not an epmd daemon") from None
    nodes, cli = [], 0
    for line in text.splitlines():
        m = _NAME_LINE.fullmatch(line)
        if m is None or not 0 < int(m.group(2)) < 65536:
            raise BadReply(f"unexpected line in an EPMD NAMES reply: {line[:60]!r}")
        if m.group(1).startswith(CLI_PREFIX):
            cli += 1
        else:
            nodes.append(EpmdNode(alive=m.group(1), port=int(m.group(2))))
    if not 0 < epmd_port < 65536:
        raise BadReply(f"EPMD NAMES reply announces port {epmd_port}: not an epmd daemon")
    return EpmdNames(epmd_port=epmd_port, nodes=nodes, cli_nodes=cli)


def decode_port2_head(head: bytes, alive: str, what: str = "epmd") -> None:
    """Check the 2-byte PORT2_RESP head (`'w' | Result`); a non-zero result means 'not registered'."""
    if len(head) != 2 or head[0] != PORT2_RESP:
        raise BadReply(f"{what}: not an EPMD PORT2 reply (starts with {head[:2].hex() or 'nothing'})")
    if head[1] != 0:
        raise NotFound(f"{what}: no node named {alive!r} is registered (the node is not running)")


def decode_port2_fixed(fixed: bytes) -> tuple[int, int, int, int, int, int]:
    """PortNo:u16 | NodeType:u8 | Protocol:u8 | HighestVersion:u16 | LowestVersion:u16 | Nlen:u16."""
    if len(fixed) != 10:
        raise BadReply(f"EPMD PORT2 reply truncated ({len(fixed)} of 10 bytes)")
    port, node_type, protocol, high, low, nlen = struct.unpack(">HBBHHH", fixed)
    if port == 0 or low > high:
        raise BadReply(f"EPMD PORT2 reply is implausible (port {port}, versions {low}..{high})")
    return port, node_type, protocol, high, low, nlen


def registration(alive: str, fixed: tuple[int, int, int, int, int, int], name: bytes) -> DistRegistration:
    port, node_type, protocol, high, low, _ = fixed
    registered = name.decode("utf-8", "replace")
    if registered != alive:
        raise BadReply(f"EPMD answered for {registered!r} when asked for {alive!r}")
    return DistRegistration(
        alive=alive, port=port, node_type=NODE_TYPES.get(node_type, "unknown"), protocol=protocol,
        highest_version=high, lowest_version=low,
    )


def decode_port2(data: bytes, alive: str) -> DistRegistration:
    """Decode a complete PORT2_RESP (the same checks the streaming reader applies)."""
    decode_port2_head(data[:2], alive)
    fixed = decode_port2_fixed(data[2:12])
    nlen = fixed[5]
    name = data[12 : 12 + nlen]
    if len(name) != nlen or len(data) < 14 + nlen:
        raise BadReply("EPMD PORT2 reply truncated in the node name")
    (elen,) = struct.unpack(">H", data[12 + nlen : 14 + nlen])
    if elen > MAX_EXTRA or len(data) != 14 + nlen + elen:
        raise BadReply(f"EPMD PORT2 reply has {len(data) - 14 - nlen} extra bytes, announced {elen}")
    return registration(alive, fixed, name)


async def read_names(reader: asyncio.StreamReader, what: str) -> EpmdNames:
    """Read a NAMES reply to EOF (epmd closes after it), never more than MAX_NAMES_REPLY bytes."""
    data = b""
    while chunk := await reader.read(MAX_NAMES_REPLY + 1 - len(data)):
        data += chunk
        if len(data) > MAX_NAMES_REPLY:
            raise BadReply(f"{what}: NAMES reply larger than {MAX_NAMES_REPLY} bytes: not an epmd daemon")
    if not data:
        raise BadReply(f"{what}: closed without answering NAMES_REQ: not an epmd daemon")
    return decode_names(data)


async def read_port2(reader: asyncio.StreamReader, alive: str, what: str) -> DistRegistration:
    decode_port2_head(await read_exactly(reader, 2, what), alive, what)
    fixed = decode_port2_fixed(await read_exactly(reader, 10, what))
    name = await read_exactly(reader, fixed[5], what)
    (elen,) = struct.unpack(">H", await read_exactly(reader, 2, what))
    if elen > MAX_EXTRA:
        raise BadReply(f"{what}: PORT2 reply announces {elen} extra bytes (limit {MAX_EXTRA})")
    await read_exactly(reader, elen, what)
    return registration(alive, fixed, name)


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 2)


async def probe_names(host: str, port: int, timeout: float) -> tuple[PortCheck, Observation[EpmdNames]]:
    """NAMES_REQ on a fresh connection. That connection is also the `epmd` port check."""
    what = f"epmd on {host}:{port}"
    t0 = time.perf_counter()
    try:
        reader, writer, latency = await open_connection(host, port, timeout)
    except ProbeFailure as failure:
        return port_failure("epmd", port, failure, _ms(t0)), Observation[EpmdNames](
            error=ProbeError.of(failure), latency_ms=_ms(t0)
        )
    check = PortCheck(role="epmd", port=port, status="open", latency_ms=round(latency, 2))
    try:
        async with asyncio.timeout(timeout):
            writer.write(frame_request(NAMES_REQ))
            await writer.drain()
            names = await read_names(reader, what)
    except (ProbeFailure, OSError, TimeoutError) as exc:
        problem = _problem(exc, what, "sent no NAMES reply (not an epmd daemon?)")
        check.speaks_protocol, check.protocol_detail = False, problem.detail
        return check, Observation[EpmdNames](error=ProbeError.of(problem), latency_ms=_ms(t0))
    finally:
        await close_quietly(writer)
    check.speaks_protocol = True
    return check, Observation[EpmdNames](value=names, latency_ms=_ms(t0))


async def probe_port_please(host: str, port: int, alive: str, timeout: float) -> Observation[DistRegistration]:
    """PORT_PLEASE2_REQ for one alive name (the part before `@`) on a fresh connection."""
    what = f"epmd on {host}:{port}"
    t0 = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            reader, writer, _ = await open_connection(host, port, timeout)
            try:
                writer.write(port_please2_request(alive))
                await writer.drain()
                found = await read_port2(reader, alive, what)
            finally:
                await close_quietly(writer)
    except (ProbeFailure, OSError, TimeoutError) as exc:
        problem = _problem(exc, what, "sent no PORT2 reply (not an epmd daemon?)")
        return Observation[DistRegistration](error=ProbeError.of(problem), latency_ms=_ms(t0))
    return Observation[DistRegistration](value=found, latency_ms=_ms(t0))


def _problem(exc: BaseException, what: str, silent: str) -> ProbeFailure:
    if isinstance(exc, TimeoutError):
        return TimedOut(f"{what}: {silent}")
    return classify_os_error(exc, what)


__all__ = [
    "decode_names", "decode_port2", "port_please2_request", "probe_names", "probe_port_please",
]
