"""The management API's HTTP/1.1 client against raw in-process peers: keep-alive, chunked bodies,
no redirects, a kept-alive connection the peer closed, and no password in a repr."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from rabbitmq_preflight.collect.http import HttpPool, Response
from rabbitmq_preflight.outcomes import BadReply, ProbeFailure

Serve = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
SECRET = "Basic bW9uaXRvcjpzM2NyZXQ="


def _ok(body: bytes, *extra: str) -> bytes:
    head = "".join(f"{h}\r\n" for h in extra)
    return (f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n{head}\r\n"
            ).encode() + body


async def _requests(reader: asyncio.StreamReader) -> bytes | None:
    try:
        return await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None


def _get(serve: Serve, targets: list[str], max_body: int = 1 << 20) -> tuple[list[Response | ProbeFailure], int]:
    """GET each target in turn through one pool; the answers (or failures) and how many connections."""
    connections = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await serve(reader, writer)

    async def run() -> list[Response | ProbeFailure]:
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        pool = HttpPool(host="127.0.0.1", port=port, what="peer", connect_timeout=1.0, authorization=SECRET)
        answers: list[Response | ProbeFailure] = []
        try:
            for target in targets:
                try:
                    answers.append(await pool.get(target, max_body=max_body, where="peer GET", answer_timeout=1.0))
                except ProbeFailure as failure:
                    answers.append(failure)
        finally:
            await pool.aclose()
            server.close()
        return answers

    answers = asyncio.run(run())
    return answers, connections


def test_answers_come_over_one_kept_alive_connection() -> None:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (head := await _requests(reader)) is not None:
            assert f"Authorization: {SECRET}".encode() in head
            writer.write(_ok(head.split(b" ")[1]))
            await writer.drain()

    answers, connections = _get(serve, ["/api/nodes", "/api/overview?columns=node", "/api/policies"])
    assert [a.body for a in answers if isinstance(a, Response)] == [b"/api/nodes", b"/api/overview?columns=node",
                                                                      b"/api/policies"]
    assert connections == 1


def test_a_chunked_answer_is_joined_and_a_chunked_flood_stops_at_the_limit() -> None:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _requests(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n4\r\n[1, \r\n2;x=y\r\n2]\r\n0\r\n\r\n")
        await _requests(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        for _ in range(64):
            writer.write(b"4000\r\n" + b"x" * 0x4000 + b"\r\n")
            await writer.drain()

    answers, _ = _get(serve, ["/a", "/b"], max_body=100_000)
    first, second = answers
    assert isinstance(first, Response) and first.body == b"[1, 2]"
    assert isinstance(second, BadReply) and "larger than 100000 bytes" in second.detail


def test_a_redirect_is_an_answer_never_followed() -> None:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await _requests(reader) is not None:
            writer.write(b"HTTP/1.1 301 Moved\r\nlocation: http://attacker.example/\r\ncontent-length: 0\r\n\r\n")
            await writer.drain()

    answers, connections = _get(serve, ["/api/nodes"])
    assert isinstance(answers[0], Response) and answers[0].status == 301 and connections == 1


def test_a_kept_alive_connection_the_peer_closed_is_replaced_once_not_reported() -> None:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _requests(reader)
        writer.write(_ok(b"[]"))  # keep-alive by default in HTTP/1.1, then the peer closes anyway
        await writer.drain()
        writer.close()

    answers, connections = _get(serve, ["/x", "/y"])
    assert [a.body for a in answers if isinstance(a, Response)] == [b"[]", b"[]"] and connections == 2


def test_a_peer_closing_before_any_answer_on_a_fresh_connection_is_a_bad_reply() -> None:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _requests(reader)
        writer.close()

    [answer], _ = _get(serve, ["/x"])
    assert isinstance(answer, BadReply) and "does not speak HTTP" in answer.detail


def test_the_pool_repr_never_shows_the_authorization_header() -> None:
    pool = HttpPool(host="h", port=1, what="w", connect_timeout=1.0, authorization=SECRET)
    assert SECRET not in repr(pool) and "bW9u" not in repr(pool)
