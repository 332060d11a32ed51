"""A small HTTP/1.1 client for the management API's GETs: one keep-alive pool per node.

httpx with httpcore, anyio and h11 cost ~100 ms of import and a few ms of CPU per request, on every
run, for a handful of GETs to known hosts. This is what those GETs need and nothing more: Basic auth
in a header, bounded bodies (Content-Length, chunked, or until close), no redirects (a 3xx is just a
status), no proxies and no environment, https with the caller's TLS context, no compression asked.
Every failure is a typed ProbeFailure: the connect's (refused, timed out, unresolvable, TLS) naming the
node, anything after it (not HTTP, closed early, too large) naming the request. The caller bounds the
whole request in time; the connect has its own timeout inside that.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from dataclasses import field

from rabbitmq_preflight.collect.tcp import _connect
from rabbitmq_preflight.outcomes import BadReply, ProbeFailure, TimedOut, classify_os_error
from rabbitmq_preflight.record import lean

MAX_HEAD = 64 << 10  # status line plus headers; a real management API sends well under 1 KiB
READ_CHUNK = 64 << 10
_STATUS_LINE = re.compile(rb"HTTP/1\.([01]) ([0-9]{3})(?: [^\r\n]*)?\r\n")


@lean
class Response:
    """One HTTP response, read whole (bounded)."""

    status: int
    headers: dict[str, str]  # names lower-cased; a repeated header keeps its last value
    body: bytes


class _Stale(Exception):
    """A kept-alive connection the peer had closed before our request: retried on a fresh one."""


@lean
class _Conn:
    """One kept-alive connection to a node's management listener."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    def abort(self) -> None:
        self.writer.transport.abort()


@lean
class HttpPool:
    """Connections to one host:port, reused while the peer keeps them alive, at most `max_connections`
    at once. `authorization` is the header value (it holds the password: never in a repr)."""

    host: str
    port: int
    what: str  # names the node in connect failures, e.g. "http://10.0.0.1:15672 (rabbit@a)"
    connect_timeout: float
    tls: ssl.SSLContext | None = None
    authorization: str = field(default="", repr=False)
    max_connections: int = 6
    connected: bool = False  # some connection got through (the port is open)
    _idle: list[_Conn] = field(default_factory=list, repr=False)
    _slots: asyncio.Semaphore | None = field(default=None, repr=False)

    async def get(self, target: str, *, max_body: int, where: str, answer_timeout: float | None = None) -> Response:
        """GET `target` (path and query) and read the whole answer, at most `max_body` bytes of body,
        within `answer_timeout` seconds of being connected (a drip or a stall costs that, once)."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.max_connections)
        async with self._slots:
            while self._idle:
                conn = self._idle.pop()
                try:
                    return await self._timed(conn, target, max_body, where, answer_timeout, reused=True)
                except _Stale:
                    continue
            conn = await self._connect()
            try:
                return await self._timed(conn, target, max_body, where, answer_timeout, reused=False)
            except _Stale:
                raise BadReply(f"{where}: the peer closed the connection without an answer "
                               "(it does not speak HTTP: wrong port, or TLS expected?)") from None

    async def _timed(self, conn: _Conn, target: str, max_body: int, where: str, answer_timeout: float | None,
                     *, reused: bool) -> Response:
        try:
            async with asyncio.timeout(answer_timeout):
                return await self._exchange(conn, target, max_body, where, reused=reused)
        except TimeoutError:
            raise TimedOut(f"{where}: connected, but no complete answer within {answer_timeout:g} s "
                           "(a stalled or slow-dripping peer)") from None

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.writer.close()

    async def _connect(self) -> _Conn:
        sock = None
        try:
            async with asyncio.timeout(self.connect_timeout):
                sock = await _connect(self.host, self.port, self.connect_timeout)
                reader, writer = await asyncio.open_connection(
                    sock=sock, limit=MAX_HEAD, ssl=self.tls,
                    server_hostname=self.host if self.tls is not None else None,
                )
        except TimeoutError:
            if sock is not None:
                sock.close()
            raise TimedOut(f"{self.what}: no answer to the TCP connect (filtered by a firewall, "
                           "or the host is down)") from None
        except ssl.SSLError as exc:
            if sock is not None:
                sock.close()
            raise ProbeFailure(f"{self.what}: TLS handshake failed ({exc.reason or exc})") from None
        except OSError as exc:
            if sock is not None:
                sock.close()
            raise classify_os_error(exc, self.what) from None
        except BaseException:
            if sock is not None:
                sock.close()
            raise
        self.connected = True
        return _Conn(reader, writer)

    def _request(self, target: str) -> bytes:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.tls is not None else 80
        authority = host if self.port == default else f"{host}:{self.port}"
        auth = f"Authorization: {self.authorization}\r\n" if self.authorization else ""
        return (f"GET {target} HTTP/1.1\r\nHost: {authority}\r\nAccept: application/json\r\n"
                f"{auth}User-Agent: rabbitmq-preflight\r\n\r\n").encode("latin-1")

    async def _exchange(self, conn: _Conn, target: str, max_body: int, where: str, *, reused: bool) -> Response:
        try:
            conn.writer.write(self._request(target))
            await conn.writer.drain()
            response, keep = await _read_response(conn.reader, max_body, where)
        except _Stale:
            conn.abort()
            raise
        except (ConnectionError, OSError) as exc:
            conn.abort()
            if reused:  # closed by the peer while it sat idle: not this request's fault
                raise _Stale() from None
            raise BadReply(f"{where}: connection lost before a complete answer ({exc.strerror or type(exc).__name__})"
                           ) from None
        except BaseException:
            conn.abort()  # a request cut off (timeout, cancel) leaves the connection mid-answer
            raise
        if keep:
            self._idle.append(conn)
        else:
            conn.writer.close()
        return response


async def _read_response(reader: asyncio.StreamReader, max_body: int, where: str) -> tuple[Response, bool]:
    """One answer (informational 1xx answers skipped) and whether the connection may be reused."""
    not_http = f"{where}: the peer does not speak HTTP (wrong port, or TLS expected?)"
    while True:
        try:
            line = await reader.readuntil(b"\r\n")
        except asyncio.IncompleteReadError as exc:
            if not exc.partial:
                raise _Stale() from None
            raise BadReply(not_http) from None
        except asyncio.LimitOverrunError:
            raise BadReply(not_http) from None
        status_line = _STATUS_LINE.fullmatch(line)
        if status_line is None:
            raise BadReply(not_http)
        minor, status = status_line.group(1), int(status_line.group(2))
        headers = await _read_headers(reader, not_http)
        if not 100 <= status < 200:
            break
    keep = minor == b"1" and "close" not in headers.get("connection", "").lower()
    if status in (204, 304):
        return Response(status, headers, b""), keep
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return Response(status, headers, await _read_chunked(reader, max_body, where, not_http)), keep
    declared = headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise BadReply(not_http)
        length = int(declared)
        if length > max_body:
            raise BadReply(f"{where}: announces {length} bytes, above the {max_body}-byte limit")
        try:
            body = await reader.readexactly(length)
        except asyncio.IncompleteReadError as exc:
            raise BadReply(f"{where}: the connection closed after {len(exc.partial)} of the "
                           f"{length} bytes announced") from None
        return Response(status, headers, body), keep
    return Response(status, headers, await _read_to_close(reader, max_body, where)), False


async def _read_headers(reader: asyncio.StreamReader, not_http: str) -> dict[str, str]:
    headers: dict[str, str] = {}
    size = 0
    while True:
        try:
            line = await reader.readuntil(b"\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            raise BadReply(not_http) from None
        size += len(line)
        if line == b"\r\n":
            return headers
        name, colon, value = line.decode("latin-1").partition(":")
        if not colon or size > MAX_HEAD or not name or name != name.strip():
            raise BadReply(not_http)
        headers[name.lower()] = value.strip()


def _too_large(where: str, limit: int) -> BadReply:
    return BadReply(f"{where}: answer larger than {limit} bytes; stopped reading")


async def _read_to_close(reader: asyncio.StreamReader, limit: int, where: str) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := await reader.read(READ_CHUNK):
        size += len(chunk)
        if size > limit:
            raise _too_large(where, limit)
        chunks.append(chunk)
    return b"".join(chunks)


async def _read_chunked(reader: asyncio.StreamReader, limit: int, where: str, not_http: str) -> bytes:
    chunks: list[bytes] = []
    size = 0
    try:
        while True:
            line = await reader.readuntil(b"\r\n")
            digits = line.split(b";", 1)[0].strip()
            if not digits or len(digits) > 16 or not re.fullmatch(rb"[0-9A-Fa-f]+", digits):
                raise BadReply(not_http)
            length = int(digits, 16)
            if length == 0:
                while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers
                    pass
                return b"".join(chunks)
            size += length
            if size > limit:
                raise _too_large(where, limit)
            chunks.append(await reader.readexactly(length))
            if await reader.readexactly(2) != b"\r\n":
                raise BadReply(not_http)
    except asyncio.IncompleteReadError:
        raise BadReply(f"{where}: the connection closed in the middle of a chunked answer") from None
    except asyncio.LimitOverrunError:
        raise BadReply(not_http) from None
