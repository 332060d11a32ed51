"""The AMQP Connection.Start decoder, fed the bytes a real RabbitMQ 3.10.8 node sent."""

from __future__ import annotations

import asyncio
import contextlib
import struct
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rabbitmq_preflight.collect import amqp
from rabbitmq_preflight.facts import AmqpServer
from rabbitmq_preflight.outcomes import BadReply, Closed, ProbeFailure

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"
CAPTURE = (FIXTURES / "amqp_connection_start_3.10.8.bin").read_bytes()


def test_captured_connection_start_decodes_product_version_platform() -> None:
    server = amqp.decode_reply(CAPTURE)
    assert server.product == "RabbitMQ"
    assert server.version == "3.10.8"
    assert server.platform == "Erlang/OTP 25.2.3"
    assert server.cluster_name == "lab"
    assert set(server.mechanisms) == {"PLAIN", "AMQPLAIN"}
    assert server.locales == ["en_US"]


@pytest.mark.parametrize("cut", [0, 3, 7, 20, 100, len(CAPTURE) - 1])
def test_truncated_capture_is_a_bad_reply_not_a_crash(cut: int) -> None:
    with pytest.raises(BadReply):
        amqp.decode_reply(CAPTURE[:cut])


def test_wrong_frame_end_is_reported() -> None:
    with pytest.raises(BadReply, match="frame end"):
        amqp.decode_reply(CAPTURE[:-1] + b"\x00")


def test_server_offering_another_protocol_header_is_reported_with_the_header() -> None:
    reply = (FIXTURES / "amqp_bad_header_reply_3.10.8.bin").read_bytes()
    assert reply.startswith(b"AMQP")
    with pytest.raises(BadReply, match=r"offered AMQP 0\.0\.9"):
        amqp.decode_frame_header(reply[:7])


def test_http_server_on_the_amqp_port_is_named() -> None:
    with pytest.raises(BadReply, match="HTTP server"):
        amqp.decode_frame_header(b"HTTP/1.")


def test_absurd_frame_size_is_rejected_before_reading() -> None:
    with pytest.raises(BadReply, match="implausible"):
        amqp.decode_frame_header(struct.pack(">BHI", 1, 0, 2**31))


def test_unknown_field_type_in_table_is_a_bad_reply() -> None:
    with pytest.raises(BadReply, match="unknown field type"):
        amqp.decode_table(b"\x03key" + b"Z")


def test_nested_tables_and_arrays_decode() -> None:
    inner = b"\x01a" + b"t\x01"
    table = b"\x03cap" + b"F" + struct.pack(">I", len(inner)) + inner
    array_items = b"S" + struct.pack(">I", 2) + b"hi" + b"I" + struct.pack(">i", -5)
    table += b"\x03arr" + b"A" + struct.pack(">I", len(array_items)) + array_items
    assert amqp.decode_table(table) == {"cap": {"a": True}, "arr": ["hi", -5]}


@given(st.binary(max_size=600))
def test_arbitrary_bytes_give_a_value_or_a_typed_error(data: bytes) -> None:
    with contextlib.suppress(BadReply):
        amqp.decode_reply(data)


@given(st.integers(min_value=0, max_value=len(CAPTURE) - 1), st.integers(min_value=0, max_value=255))
def test_single_byte_corruption_gives_a_value_or_a_typed_error(pos: int, value: int) -> None:
    data = bytearray(CAPTURE)
    data[pos] = value
    with contextlib.suppress(BadReply):
        amqp.decode_reply(bytes(data))


async def _serve_once(payload: bytes, close: bool) -> tuple[asyncio.Server, int]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readexactly(8)
        writer.write(payload)
        await writer.drain()
        if close:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def _probe(payload: bytes, close: bool = True) -> AmqpServer:
    server, port = await _serve_once(payload, close)
    async with server:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            async with asyncio.timeout(2):
                return await amqp.read_connection_start(reader, writer, f"127.0.0.1:{port}")
        finally:
            writer.close()


def test_probe_reads_a_replayed_capture_over_tcp() -> None:
    assert asyncio.run(_probe(CAPTURE)).version == "3.10.8"


def test_peer_closing_mid_frame_is_closed_not_a_crash() -> None:
    with pytest.raises(Closed, match="closed after"):
        asyncio.run(_probe(CAPTURE[:50]))


def test_every_probe_failure_is_typed() -> None:
    assert issubclass(BadReply, ProbeFailure) and issubclass(Closed, ProbeFailure)
