"""Support for the fault matrix: the result table, report lookups, the lab's management API, and a fake
AMQP node built from a real `Connection.Start` capture.

The table rows live in a module-level list so that `tests/integration/conftest.py` can print them at
the end of the session, whichever cases passed or failed: a row is recorded before its assertions.
"""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

API = "http://198.18.0.11:15672"
CAPTURE = Path(__file__).resolve().parent.parent / "fixtures" / "amqp_connection_start_3.10.8.bin"

T = TypeVar("T")
Report = dict[str, Any]


# --- the table ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One line of the matrix: what was injected, what must be found, what was found, and how long it took."""

    fault: str
    expected: str
    found: str
    fault_s: float | None  # injecting the fault and waiting until it is in effect (None: nothing injected)
    check_s: float  # the preflight run that judged it


ROWS: list[Row] = []


def _item(finding: dict[str, Any]) -> str:
    evidence = finding["evidence"]
    role, count = evidence.get("role"), evidence.get("unmirrored", evidence.get("queues"))
    where = f"{finding['node'] or finding['subject']}{f' ({role})' if role else ''}"
    verdict = "unknown" if finding["outcome"] == "unknown" else finding["severity"]
    queues = "" if count is None else f", {count} queue{'' if count == 1 else 's'}"
    return f"{finding['rule']} {where} {verdict}{queues}"


def found_text(report: Report, rules: tuple[str, ...]) -> str:
    """The findings of `rules` as `RULE node (port role) severity|unknown`, or `-` when there are none."""
    return "; ".join(sorted({_item(f) for f in report["findings"] if f["rule"] in rules})) or "-"


def record(fault: str, expected: str, found: str, fault_s: float | None, check_s: float) -> None:
    ROWS.append(Row(fault, expected, found, fault_s, check_s))


def _seconds(value: float | None) -> str:
    return "-" if value is None else "<0.1" if value < 0.05 else f"{value:.1f}"


def render_table(rows: list[Row]) -> str:
    head = ("fault", "expected", "found", "fault s", "check s")
    cells = [head, *((r.fault, r.expected, r.found, _seconds(r.fault_s), _seconds(r.check_s)) for r in rows)]
    widths = [max(len(c[i]) for c in cells) for i in range(len(head))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


# --- reading a report -----------------------------------------------------------------------------------


def findings(report: Report, rule: str, node: str | None = None) -> list[dict[str, Any]]:
    return [f for f in report["findings"] if f["rule"] == rule and (node is None or f["node"] == node)]


def statuses(report: Report, rule: str) -> dict[str | None, str]:
    return {c["node"]: c["status"] for c in report["checks"] if c["rule"] == rule}


def errors(report: Report) -> list[dict[str, Any]]:
    return [f for f in report["findings"] if f["severity"] in ("error", "critical") and not f["waived"]]


def error_nodes(report: Report) -> set[str | None]:
    """The nodes named by error-level findings (None for cluster-wide ones)."""
    return {f["node"] for f in errors(report)}


def poll(what: str, probe: Callable[[], T | None], deadline_s: float = 60.0, every_s: float = 0.5) -> T:
    """`probe()` until it returns something, within a bounded deadline (no fixed sleeps)."""
    end = time.monotonic() + deadline_s
    while True:
        value = probe()
        if value is not None:
            return value
        assert time.monotonic() < end, f"{what}: not reached within {deadline_s:.0f} s"
        time.sleep(every_s)


# --- the lab's management API ---------------------------------------------------------------------------


def api_client() -> httpx.Client:
    return httpx.Client(base_url=API, auth=("guest", "guest"), timeout=30, trust_env=False)


def ok(resp: httpx.Response) -> httpx.Response:
    assert resp.status_code in (200, 201, 204), (resp.request.method, str(resp.request.url), resp.text)
    return resp


def q(name: str) -> str:
    return quote(name, safe="")


def put_vhost(client: httpx.Client, vhost: str) -> None:
    client.delete(f"/api/vhosts/{q(vhost)}")  # a leftover from an interrupted run
    ok(client.put(f"/api/vhosts/{q(vhost)}", json={}))


def delete_vhost(client: httpx.Client, vhost: str) -> None:
    resp = client.delete(f"/api/vhosts/{q(vhost)}")
    assert resp.status_code in (204, 404), resp.text


def put_policy(client: httpx.Client, vhost: str, name: str, pattern: str, definition: dict[str, Any],
               priority: int) -> None:
    ok(client.put(f"/api/policies/{q(vhost)}/{q(name)}", json={
        "pattern": pattern, "definition": definition, "priority": priority, "apply-to": "queues"}))


def put_queue(client: httpx.Client, vhost: str, name: str, node: str | None = None) -> None:
    body: dict[str, Any] = {"durable": True, "arguments": {}}
    if node is not None:
        body["node"] = node
    ok(client.put(f"/api/queues/{q(vhost)}/{q(name)}", json=body))


def publish(client: httpx.Client, vhost: str, queue: str, count: int) -> None:
    for i in range(count):
        routed = ok(client.post(f"/api/exchanges/{q(vhost)}/amq.default/publish", json={
            "properties": {"delivery_mode": 2}, "routing_key": queue, "payload": f"m{i}",
            "payload_encoding": "string"})).json()
        assert routed == {"routed": True}, routed


def queue_rows(client: httpx.Client, vhost: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = ok(client.get(f"/api/queues/{q(vhost)}", params={
        "columns": "name,policy,messages,slave_nodes,synchronised_slave_nodes"})).json()
    return rows


# --- a fake node advertising another version ------------------------------------------------------------

PROTOCOL_HEADER = b"AMQP\x00\x00\x09\x01"
_TABLE_LEN_AT = 7 + 4 + 2  # frame header, class+method ids, protocol major+minor


def with_version(frame: bytes, version: str) -> bytes:
    """The captured Connection.Start frame with its `version` property replaced, and the server-properties
    table length and the frame size corrected by the same number of bytes."""
    (table_len,) = struct.unpack_from(">I", frame, _TABLE_LEN_AT)
    table_start = _TABLE_LEN_AT + 4
    key = b"\x07versionS"
    at = frame.find(key, table_start, table_start + table_len)
    assert at > 0 and frame.count(key) == 1, "the capture has no single `version` entry"
    (old_len,) = struct.unpack_from(">I", frame, at + len(key))
    value_at = at + len(key) + 4
    assert value_at + old_len <= table_start + table_len
    new = version.encode()
    out = bytearray(frame[:at + len(key)] + struct.pack(">I", len(new)) + new + frame[value_at + old_len:])
    delta = len(new) - old_len
    struct.pack_into(">I", out, _TABLE_LEN_AT, table_len + delta)
    (size,) = struct.unpack_from(">I", frame, 3)
    struct.pack_into(">I", out, 3, size + delta)
    return bytes(out)


@dataclass
class FakeAmqpNode:
    """An asyncio server on 127.0.0.1 (port 0) that answers the AMQP protocol header with `reply`."""

    reply: bytes
    served: int = 0
    port: int = 0
    _server: asyncio.Server | None = None

    async def __aenter__(self) -> FakeAmqpNode:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            header = await asyncio.wait_for(reader.readexactly(len(PROTOCOL_HEADER)), 5)
            if header == PROTOCOL_HEADER:
                writer.write(self.reply)
                await writer.drain()
                self.served += 1
                await asyncio.wait_for(reader.read(4096), 5)  # the prober hangs up after reading
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()
