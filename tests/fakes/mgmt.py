"""A small in-process management API: canned answers per path, and the misbehaviours a real
broker cannot be made to show (HTML, truncated JSON, huge bodies, silence). 127.0.0.1, port 0."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from rabbitmq_preflight.collect.options import CollectOptions
from rabbitmq_preflight.inventory import Inventory, ManagementSection, NodeSpec
from rabbitmq_preflight.record import Secret

PASSWORD = "s3cret-Pa55word"  # a fake server's fake password


@dataclass
class Answer:
    status: int = 200
    body: bytes = b"[]"
    content_type: str = "application/json"
    truncate_to: int | None = None  # announce the full length, send this many bytes, close
    huge: int | None = None  # stream this many bytes of JSON-looking filler
    silent: bool = False

    @classmethod
    def json(cls, data: Any, status: int = 200) -> Answer:
        return cls(status=status, body=json.dumps(data).encode())


Route = Callable[[str, dict[str, str]], Answer]


@dataclass
class FakeApi:
    routes: dict[str, Answer | Route] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str], str]] = field(default_factory=list)  # path, query, auth header
    port: int = 0
    handlers: set[asyncio.Task[None]] = field(default_factory=set)

    def answer(self, path: str, query: dict[str, str]) -> Answer:
        found = self.routes.get(path)
        if found is None:
            return Answer(status=404, body=b'{"error":"Object Not Found","reason":"Not Found"}')
        return found(path, query) if callable(found) else found

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self.handlers.add(task)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return
        lines = head.decode("latin-1").split("\r\n")
        target = lines[0].split(" ")[1]
        auth = next((ln.split(":", 1)[1].strip() for ln in lines if ln.lower().startswith("authorization:")), "")
        url = urlsplit(target)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        self.requests.append((url.path, query, auth))
        await self._reply(writer, self.answer(url.path, query))

    async def _reply(self, writer: asyncio.StreamWriter, ans: Answer) -> None:
        if ans.silent:
            await asyncio.sleep(3600)
        length = ans.huge if ans.huge is not None else len(ans.body)
        writer.write(f"HTTP/1.1 {ans.status} X\r\ncontent-type: {ans.content_type}\r\n"
                     f"content-length: {length}\r\nconnection: close\r\n\r\n".encode())
        try:
            if ans.huge is not None:
                chunk = b'["' + b"x" * 65530 + b'",'
                for _ in range(ans.huge // len(chunk)):
                    writer.write(chunk)
                    await writer.drain()
            else:
                writer.write(ans.body[: ans.truncate_to] if ans.truncate_to is not None else ans.body)
                await writer.drain()
        except ConnectionError:
            pass
        writer.close()


@asynccontextmanager
async def serve(api: FakeApi) -> AsyncIterator[FakeApi]:
    server = await asyncio.start_server(api.handle, "127.0.0.1", 0)
    api.port = server.sockets[0].getsockname()[1]
    try:
        yield api
    finally:
        server.close()
        for task in api.handlers:
            task.cancel()
        await asyncio.gather(*api.handlers, return_exceptions=True)
        await server.wait_closed()


def options(ports: dict[str, int], timeout: float = 1.0, user: str = "monitor") -> CollectOptions:
    """Options for nodes served on 127.0.0.1 at the given management ports, with fake credentials."""
    nodes = [NodeSpec(name=name, address="127.0.0.1", management_port=port) for name, port in ports.items()]
    inv = Inventory(nodes=nodes, management=ManagementSection(user=user, password=Secret(PASSWORD)))
    return CollectOptions.of(inv, timeout=timeout, deadline=10.0, no_handshake=True)


def paged_queues(rows: list[dict[str, Any]]) -> Route:
    """`/api/queues?page=N&page_size=S` as RabbitMQ pages it (400 above 500 per page)."""

    def route(path: str, query: dict[str, str]) -> Answer:
        size, page = int(query.get("page_size", "100")), int(query.get("page", "1"))
        if size > 500:
            return Answer.json({"error": "invalid_pagination_parameters", "reason": "page size 501"}, 400)
        count = max(1, -(-len(rows) // size))
        items = rows[(page - 1) * size: page * size]
        return Answer.json({"filtered_count": len(rows), "item_count": len(items), "items": items, "page": page,
                            "page_count": count, "page_size": size, "total_count": len(rows)})

    return route
