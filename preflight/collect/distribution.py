"""Erlang distribution handshake probe: does a node accept the local cookie?

This is the test `rabbitmqctl join_cluster` faces, without joining anything. We connect to the node's
distribution port (learned from EPMD), present ourselves as a *hidden* node with a unique name
(`preflight-<pid>-<random>@<this host>`, so we never collide with a real node), answer the node's
challenge with MD5(cookie + challenge), check the node's own answer to our challenge, and hang up before
any distribution message is sent. The node announces its own full name in its challenge; we record it
(and whether it is the name we dialled: Erlang aborts on a mismatch even with the right cookie).

Side effect: a node that rejects the cookie logs
`** Connection attempt from node 'preflight-…@host' rejected. Invalid challenge reply. **` at error
level; `--no-handshake` replaces the handshake with a bare connect for those who must avoid that.
A success logs nothing at the default level.

Byte layout: docs/reference.md §5 (verified against OTP 25.2.3). Every message is
`Len:u16 | Body`; lengths above MAX_MESSAGE are refused before reading, so a hostile peer costs at most
one timeout and a few kilobytes.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import secrets
import socket
import struct
import time
from typing import TYPE_CHECKING, Literal

from rabbitmq_preflight.collect import epmd
from rabbitmq_preflight.collect.cookie import Cookie
from rabbitmq_preflight.collect.options import DISCOVERED
from rabbitmq_preflight.collect.tcp import close_quietly, open_connection, port_failure, probe_port, read_exactly
from rabbitmq_preflight.facts import (
    CookieFacts,
    DistHandshake,
    DistRegistration,
    EpmdNames,
    NodeFacts,
    Observation,
    PortCheck,
    ProbeError,
)
from rabbitmq_preflight.outcomes import (
    BadReply,
    Closed,
    Forbidden,
    NotConfigured,
    ProbeFailure,
    Skipped,
    TimedOut,
    classify_os_error,
)
from rabbitmq_preflight.record import lean

if TYPE_CHECKING:
    from rabbitmq_preflight.collect.options import CollectOptions
    from rabbitmq_preflight.inventory import NodeSpec

# Capability flags (kernel/include/dist.hrl). Hidden: DFLAG_PUBLISHED (0x1) is not set. The set covers
# OTP 25's mandatory flags, OTP 26's additions (UNLINK_ID, V4_NC) and the digest bit OTP 27 requires.
DFLAG_EXTENDED_REFERENCES = 0x4
DFLAG_DIST_MONITOR = 0x8
DFLAG_FUN_TAGS = 0x10
DFLAG_DIST_MONITOR_NAME = 0x20
DFLAG_NEW_FUN_TAGS = 0x80
DFLAG_EXTENDED_PIDS_PORTS = 0x100
DFLAG_EXPORT_PTR_TAG = 0x200
DFLAG_BIT_BINARIES = 0x400
DFLAG_NEW_FLOATS = 0x800
DFLAG_UNICODE_IO = 0x1000
DFLAG_SMALL_ATOM_TAGS = 0x4000
DFLAG_UTF8_ATOMS = 0x10000
DFLAG_MAP_TAG = 0x20000
DFLAG_BIG_CREATION = 0x40000
DFLAG_SEND_SENDER = 0x80000
DFLAG_BIG_SEQTRACE_LABELS = 0x100000
DFLAG_EXIT_PAYLOAD = 0x400000
DFLAG_HANDSHAKE_23 = 0x1000000
DFLAG_UNLINK_ID = 0x2000000
DFLAG_MANDATORY_25_DIGEST = 0x4000000  # the protocol doc says 1 bsl 36; dist.hrl (OTP 25) says bit 26
DFLAG_SPAWN = 1 << 32
DFLAG_V4_NC = 1 << 34
DFLAG_ALIAS = 1 << 35
OUR_FLAGS = (
    DFLAG_EXTENDED_REFERENCES | DFLAG_DIST_MONITOR | DFLAG_FUN_TAGS | DFLAG_DIST_MONITOR_NAME
    | DFLAG_NEW_FUN_TAGS | DFLAG_EXTENDED_PIDS_PORTS | DFLAG_EXPORT_PTR_TAG | DFLAG_BIT_BINARIES
    | DFLAG_NEW_FLOATS | DFLAG_UNICODE_IO | DFLAG_SMALL_ATOM_TAGS | DFLAG_UTF8_ATOMS | DFLAG_MAP_TAG
    | DFLAG_BIG_CREATION | DFLAG_SEND_SENDER | DFLAG_BIG_SEQTRACE_LABELS | DFLAG_EXIT_PAYLOAD
    | DFLAG_HANDSHAKE_23 | DFLAG_UNLINK_ID | DFLAG_MANDATORY_25_DIGEST | DFLAG_SPAWN | DFLAG_V4_NC
    | DFLAG_ALIAS
)

MAX_MESSAGE = 2048  # the largest handshake message is a challenge with a 255-character UTF-8 name
_FOREIGN_PREFIXES = {b"HT": "an HTTP server", b"AM": "an AMQP listener", b"\x16\x03": "a TLS listener"}


@lean(frozen=True)
class Challenge:
    """The node's `send_challenge`: its flags, challenge, creation and own full node name."""

    flags: int
    challenge: int
    creation: int | None
    name: str
    version: int  # 6 for the 'N' format, 5 for the old 'n' one


# --- pure encoders and decoders ------------------------------------------------------------------


def frame(body: bytes) -> bytes:
    return struct.pack(">H", len(body)) + body


def encode_send_name(name: str, creation: int, version: int = 6, flags: int = OUR_FLAGS) -> bytes:
    """send_name: 'N' | Flags:u64 | Creation:u32 | Nlen:u16 | Name (v6), or 'n' | 5:u16 | Flags:u32 | Name."""
    raw = name.encode("utf-8")
    if version >= 6:
        return b"N" + struct.pack(">QIH", flags, creation, len(raw)) + raw
    return b"n" + struct.pack(">HI", 5, flags & 0xFFFFFFFF) + raw


def encode_complement(creation: int, flags: int = OUR_FLAGS) -> bytes:
    """send_complement: after a v5 name, tells a v6 node our high flags and creation."""
    return b"c" + struct.pack(">II", flags >> 32, creation)


def gen_digest(challenge: int, cookie: Cookie) -> bytes:
    """MD5(cookie + unsigned decimal text of the challenge): OTP dist_util:gen_digest/2."""
    return hashlib.md5(cookie.reveal() + str(challenge).encode("ascii")).digest()


def encode_challenge_reply(their_challenge: int, our_challenge: int, cookie: Cookie) -> bytes:
    """challenge_reply: 'r' | OurChallenge:u32 | Digest(their challenge)."""
    return b"r" + struct.pack(">I", our_challenge) + gen_digest(their_challenge, cookie)


def message_length(prefix: bytes, what: str) -> int:
    """The u16 length of the next handshake message, refusing sizes no Erlang node sends."""
    if len(prefix) != 2:
        raise BadReply(f"{what}: truncated length prefix")
    (size,) = struct.unpack(">H", prefix)
    if size == 0 or size > MAX_MESSAGE:
        speaker = _FOREIGN_PREFIXES.get(prefix, "something")
        raise BadReply(f"{what}: {speaker} answered with a {size}-byte message: not an Erlang distribution port")
    return int(size)


def decode_status(body: bytes, what: str) -> str:
    """send_status: 's' | Status."""
    if body[:1] != b"s":
        raise BadReply(f"{what}: expected a handshake status, got a message starting {body[:8]!r}")
    try:
        return body[1:].decode("ascii")
    except UnicodeDecodeError:
        raise BadReply(f"{what}: handshake status is not ASCII") from None


def check_status(status: str, what: str, our_name: str) -> None:
    """Only `ok`/`ok_simultaneous` lead to a challenge; every other status is a typed 'could not test'."""
    if status in ("ok", "ok_simultaneous"):
        return
    if status == "not_allowed":
        raise Forbidden(f"{what}: the node does not allow our connection (net_kernel:allow/1, or it needs "
                        "capability flags this probe lacks; its log says which)")
    if status == "alive":
        raise ProbeFailure(f"{what}: the node says {our_name} is already connected; try again")
    if status == "nok":
        raise ProbeFailure(f"{what}: the node is connecting to us at the same time (status nok); try again")
    raise BadReply(f"{what}: unexpected handshake status {status[:40]!r}")


def decode_challenge(body: bytes, what: str) -> Challenge:
    """'N' | Flags:u64 | Challenge:u32 | Creation:u32 | Nlen:u16 | Name, or the v5 'n' | Ver:u16 | Flags:u32 |
    Challenge:u32 | Name."""
    if body[:1] == b"N" and len(body) >= 19:
        flags, challenge, creation, nlen = struct.unpack(">QIIH", body[1:19])
        if len(body) != 19 + nlen:
            raise BadReply(f"{what}: challenge announces a {nlen}-byte name but carries {len(body) - 19}")
        return Challenge(flags, challenge, creation, _node_name(body[19:], what), 6)
    if body[:1] == b"n" and len(body) >= 11:
        _, flags, challenge = struct.unpack(">HII", body[1:11])
        return Challenge(flags, challenge, None, _node_name(body[11:], what), 5)
    raise BadReply(f"{what}: expected the node's challenge, got a message starting {body[:8]!r}")


def _node_name(raw: bytes, what: str) -> str:
    name = raw.decode("utf-8", "replace")
    alive, at, host = name.partition("@")
    if not (alive and at and host) or not name.isprintable():
        raise BadReply(f"{what}: the challenge carries {name[:60]!r}, which is not a node name")
    return name


def decode_ack(body: bytes, what: str) -> bytes:
    """challenge_ack: 'a' | Digest(16)."""
    if body[:1] != b"a" or len(body) != 17:
        raise BadReply(f"{what}: expected challenge_ack, got {len(body)} bytes starting {body[:4]!r}")
    return body[1:]


# --- the conversation ------------------------------------------------------------------------------


@lean
class Attempt:
    """One handshake's parameters, and how far it got (the port check needs to know)."""

    node: str
    port: int
    our_name: str
    version: int = 6
    our_challenge: int = 0
    creation: int = 1
    spoke: bool = False  # the peer sent a well-formed handshake status: it is a distribution port

    @classmethod
    def new(cls, node: str, port: int, version: int = 6) -> Attempt:
        return cls(node=node, port=port, our_name=probe_node_name(node), version=version,
                   our_challenge=secrets.randbits(32), creation=secrets.randbelow(0xFFFFFFF0) + 4)


def probe_node_name(node: str) -> str:
    """A unique hidden-node name on this host; long form when the target uses long names."""
    host = socket.gethostname() if "." in node.partition("@")[2] else socket.gethostname().split(".")[0]
    return f"preflight-{os.getpid()}-{secrets.randbelow(1_000_000)}@{host or 'localhost'}"


async def read_message(reader: asyncio.StreamReader, what: str) -> bytes:
    size = message_length(await read_exactly(reader, 2, what), what)
    return await read_exactly(reader, size, what)


async def _send(writer: asyncio.StreamWriter, body: bytes) -> None:
    writer.write(frame(body))
    await writer.drain()


async def handshake(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, attempt: Attempt, cookie: Cookie
) -> DistHandshake:
    """Run the initiator side up to challenge_ack. Raises a typed ProbeFailure when no verdict is reached."""
    what = f"{attempt.node} (distribution port {attempt.port})"
    await _send(writer, encode_send_name(attempt.our_name, attempt.creation, attempt.version))
    status = decode_status(await read_message(reader, what), what)
    attempt.spoke = True
    check_status(status, what, attempt.our_name)
    challenge = decode_challenge(await read_message(reader, what), what)
    if attempt.version < 6 and challenge.version >= 6:
        await _send(writer, encode_complement(attempt.creation))
    await _send(writer, encode_challenge_reply(challenge.challenge, attempt.our_challenge, cookie))
    verdict: Literal["accepted", "rejected"] = "accepted"
    try:
        digest = decode_ack(await read_message(reader, what), what)
    except (Closed, ConnectionError):
        verdict = "rejected"  # a node that rejects our digest logs it and closes instead of answering
    else:
        if not hmac.compare_digest(digest, gen_digest(attempt.our_challenge, cookie)):
            raise BadReply(f"{what}: accepted our cookie but its own answer does not prove the same cookie")
    return DistHandshake(
        verdict=verdict, port=attempt.port, version=challenge.version, our_name=attempt.our_name,
        remote_name=challenge.name, name_matches=challenge.name == attempt.node,
        remote_flags=hex(challenge.flags),
    )


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 2)


async def probe_handshake(
    target: str, attempt: Attempt, cookie: Cookie, timeout: float
) -> tuple[PortCheck, Observation[DistHandshake]]:
    """Dial the distribution port and run the handshake on it: that connection is the `dist` port check."""
    t0 = time.perf_counter()
    try:
        reader, writer, latency = await open_connection(target, attempt.port, timeout)
    except ProbeFailure as failure:
        return (port_failure("dist", attempt.port, failure, _ms(t0)),
                Observation[DistHandshake](error=ProbeError.of(failure), latency_ms=_ms(t0)))
    check = PortCheck(role="dist", port=attempt.port, status="open", latency_ms=round(latency, 2))
    try:
        async with asyncio.timeout(timeout):
            result = await handshake(reader, writer, attempt, cookie)
    except (ProbeFailure, OSError, TimeoutError) as exc:
        problem = _problem(exc, attempt)
        check.speaks_protocol = attempt.spoke
        check.protocol_detail = None if attempt.spoke else problem.detail
        return check, Observation[DistHandshake](error=ProbeError.of(problem), latency_ms=_ms(t0))
    finally:
        await close_quietly(writer)
    check.speaks_protocol = True
    return check, Observation[DistHandshake](value=result, latency_ms=_ms(t0))


def _problem(exc: BaseException, attempt: Attempt) -> ProbeFailure:
    what = f"{attempt.node} (distribution port {attempt.port})"
    if isinstance(exc, TimeoutError):
        stage = "stopped answering during the handshake" if attempt.spoke else "sent no handshake status"
        return TimedOut(f"{what}: accepted the connection but {stage} (not an Erlang distribution port?)")
    if isinstance(exc, Closed) and not attempt.spoke:
        return Closed(f"{what}: closed the connection without a handshake status "
                      "(not an Erlang distribution port, or it expects TLS distribution)")
    return classify_os_error(exc, what)


# --- the collector: EPMD, then the handshake on the port EPMD names --------------------------------


def _dist_port(spec: NodeSpec, names: Observation[EpmdNames],
               reg: Observation[DistRegistration] | None) -> tuple[int | None, int, ProbeError | None]:
    """(port, protocol version, why unknown). PORT_PLEASE2 first, the NAMES list second."""
    if reg is not None and reg.value is not None:
        return reg.value.port, 6 if reg.value.highest_version >= 6 else 5, None
    alive = spec.name.partition("@")[0]
    listed = names.value.port_of(alive) if names.value is not None else None
    if listed is not None:
        return listed, 6, None
    error = reg.error if reg is not None and reg.error is not None else names.error
    if error is not None and error.kind == "not_found":
        return None, 6, error
    # Unknown, not skipped: the EPMD failure (timeout, refused…) is why the cookie could not be tested.
    detail = (f"the distribution port of {spec.name} is unknown ({error.detail if error else 'EPMD gave no port'}); "
              "set `dist_port` for this node in the inventory to test it without EPMD")
    return None, 6, ProbeError(kind=error.kind if error else "bad_reply", detail=detail)


def no_cookie_reason(cookie: CookieFacts) -> str:
    for src in cookie.sources[:1]:
        if src.kind == "cookie_file" and src.value is None:
            why = src.error.detail if src.error else src.content_problem or "not present"
            return f"the cookie file {src.path} cannot be used ({why})"
    return ("no usable Erlang cookie on this host (none of --cookie-file, $RABBITMQ_ERLANG_COOKIE, the "
            "RabbitMQ user's or our own ~/.erlang.cookie); give --cookie-file")


NOT_LISTED = f"{DISCOVERED}: list it to check its cookie"


async def _probe_dist(spec: NodeSpec, facts: NodeFacts, port: int, version: int, opts: CollectOptions) -> None:
    """The handshake when there is a cookie to present and it is allowed; a bare connect otherwise.

    The cookie is only presented to a node the operator's inventory lists, at the address it gives
    (`opts.listed`), on the port the inventory or that address's EPMD named. A discovered member gets
    a bare connect: a peer that named it could relay a real node's challenge through us.
    """
    local = opts.local_cookie
    cookie = None if opts.no_handshake or spec.discovered else local.secret
    if cookie is None:
        why = (Skipped(NOT_LISTED) if spec.discovered
               else Skipped("the handshake was not attempted (--no-handshake)") if opts.no_handshake
               else NotConfigured(no_cookie_reason(local.facts)))
        facts.ports["dist"] = await probe_port(spec.target, port, "dist", opts.timeout)
        facts.handshake = Observation[DistHandshake](error=ProbeError.of(why))
        return
    listed = opts.listed(spec)
    facts.ports["dist"], facts.handshake = await probe_handshake(
        listed.target, Attempt.new(listed.name, port, version), cookie, opts.timeout
    )


async def collect_distribution(spec: NodeSpec, facts: NodeFacts, opts: CollectOptions) -> None:
    """EPMD NAMES (the `epmd` port check) and PORT_PLEASE2 at once, then the handshake on the port.

    Both EPMD queries run concurrently and the handshake only waits for them when the inventory does
    not give the port, so a blackholed host costs one timeout, not three. A discovered member gets the
    same EPMD queries and a bare connect to the port its EPMD names, never the handshake.
    """
    names_probe = epmd.probe_names(spec.target, spec.epmd_port, opts.timeout)
    if spec.dist_port:
        (facts.ports["epmd"], facts.epmd), _ = await asyncio.gather(
            names_probe, _probe_dist(spec, facts, spec.dist_port, 6, opts)
        )
        return
    alive = spec.name.partition("@")[0]
    (facts.ports["epmd"], facts.epmd), facts.dist_registration = await asyncio.gather(
        names_probe, epmd.probe_port_please(spec.target, spec.epmd_port, alive, opts.timeout)
    )
    port, version, why = _dist_port(spec, facts.epmd, facts.dist_registration)
    if port is None:
        facts.handshake = Observation[DistHandshake](error=ProbeError.of(Skipped(NOT_LISTED)) if spec.discovered
                                                     else why)
        return
    await _probe_dist(spec, facts, port, version, opts)
