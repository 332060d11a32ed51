"""In-process fake peers (asyncio servers on 127.0.0.1, port 0) for what a real node cannot show:
silence, garbage, early close, absurd length prefixes. Each handler gets the streams of one connection."""

from __future__ import annotations

import asyncio
import hashlib
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
LAB_COOKIE = b"PREFLIGHT-LAB-COOKIE-LABONLY-001"  # lab/cluster.sh's default cookie (LAB ONLY)


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@asynccontextmanager
async def serve(handler: Handler) -> AsyncIterator[int]:
    """Run `handler` for every connection; yield the port. Handlers are cancelled on exit."""
    tasks: set[asyncio.Task[None]] = set()

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # a cancelled handler ends quietly: asyncio would log a cancelled connection task
        finally:
            writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for task in tasks:
            task.cancel()
        server.close()


async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(3600)


async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    return None


def replies(*chunks: bytes, then_wait: bool = False) -> Handler:
    """Read whatever the client sends first, answer with `chunks`, then close (or stay silent)."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(4096)
        for chunk in chunks:
            writer.write(chunk)
        await writer.drain()
        if then_wait:
            await asyncio.sleep(3600)

    return handler


async def read_framed(reader: asyncio.StreamReader) -> bytes:
    (size,) = struct.unpack(">H", await reader.readexactly(2))
    return await reader.readexactly(size)


def fake_node(cookie: bytes = LAB_COOKIE, status: bytes | None = None, challenge: bytes | None = None,
              ack: bytes | None = None) -> Handler:
    """An Erlang node replaying the captured OTP 25 status and challenge. It checks the client's digest
    with `cookie` as a real node does: a wrong one makes it hang up; a right one gets `ack` (default: the
    correct digest of the client's challenge)."""
    status = status if status is not None else fixture("dist_status_ok_otp25.bin")
    challenge = challenge if challenge is not None else fixture("dist_challenge_otp25.bin")
    ours = struct.unpack(">I", challenge[2 + 9 : 2 + 13])[0]

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_framed(reader)  # send_name
        writer.write(status + challenge)
        await writer.drain()
        reply = await read_framed(reader)
        if reply[:1] == b"c":
            reply = await read_framed(reader)
        if reply[5:] != hashlib.md5(cookie + str(ours).encode()).digest():
            return  # rejected: close without a word, like dist_util
        their = struct.unpack(">I", reply[1:5])[0]
        body = ack if ack is not None else b"a" + hashlib.md5(cookie + str(their).encode()).digest()
        writer.write(struct.pack(">H", len(body)) + body)
        await writer.drain()
        await asyncio.sleep(3600)

    return handler
