"""EPMD NAMES and PORT_PLEASE2: captured OTP 25 replies, hostile peers, arbitrary bytes."""

from __future__ import annotations

import asyncio
import contextlib
import struct
import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rabbitmq_preflight.collect import epmd
from rabbitmq_preflight.facts import DistRegistration, EpmdNames, Observation, PortCheck, ProbeError
from rabbitmq_preflight.outcomes import BadReply, NotFound
from tests.fakes.erlang import Handler, fixture, hang_up, replies, serve, silent

NAMES = fixture("epmd_names_reply_otp25.bin")
PORT2 = fixture("epmd_port2_reply_rabbit_otp25.bin")
NOT_REGISTERED = fixture("epmd_port2_reply_not_registered_otp25.bin")
# Verified raw reply from the reference research (a CLI tool was running): docs/reference.md §5.
NAMES_WITH_CLI = (b"\x00\x00\x11\x11name rabbitmqcli-914-rabbit at port 35672\nname rabbit3 at port 25702\n"
                  b"name rabbit2 at port 25692\nname rabbit1 at port 25682\n")


def test_captured_names_reply_lists_the_lab_node_and_its_port() -> None:
    names = epmd.decode_names(NAMES)
    assert names.epmd_port == 4369
    assert [(n.alive, n.port) for n in names.nodes] == [("rabbit", 25672)]
    assert names.port_of("rabbit") == 25672 and names.port_of("other") is None


def test_cli_tool_entries_are_counted_and_left_out() -> None:
    names = epmd.decode_names(NAMES_WITH_CLI)
    assert [n.alive for n in names.nodes] == ["rabbit3", "rabbit2", "rabbit1"]
    assert names.cli_nodes == 1


def test_captured_port2_reply_gives_the_dist_port_and_version_range() -> None:
    reg = epmd.decode_port2(PORT2, "rabbit")
    assert (reg.port, reg.node_type, reg.protocol) == (25672, "normal", 0)
    assert (reg.lowest_version, reg.highest_version) == (5, 6)


def test_port2_request_is_framed_as_otp_sends_it() -> None:
    assert epmd.port_please2_request("rabbit") == b"\x00\x07zrabbit"


def test_not_registered_node_is_not_found() -> None:
    with pytest.raises(NotFound, match="no node named 'rabbit'"):
        epmd.decode_port2(NOT_REGISTERED, "rabbit")


def test_port2_reply_for_another_name_is_a_bad_reply() -> None:
    with pytest.raises(BadReply, match="answered for 'rabbit'"):
        epmd.decode_port2(PORT2, "hare")


@pytest.mark.parametrize("cut", [0, 1, 3, 11, 12, 17, len(PORT2) - 1])
def test_truncated_port2_reply_is_a_bad_reply(cut: int) -> None:
    with pytest.raises(BadReply):
        epmd.decode_port2(PORT2[:cut], "rabbit")


@pytest.mark.parametrize("data", [b"", b"\x00\x00", b"HTTP/1.1 400 Bad Request\r\n\r\n",
                                  b"\x00\x00\x11\x11name rabbit at port 99999\n", b"\x00\x00\x00\x00"])
def test_names_reply_that_is_not_epmd_is_a_bad_reply(data: bytes) -> None:
    with pytest.raises(BadReply):
        epmd.decode_names(data)


@given(st.binary(max_size=200))
def test_any_bytes_decode_to_names_or_a_bad_reply(data: bytes) -> None:
    with contextlib.suppress(BadReply):
        assert isinstance(epmd.decode_names(data), EpmdNames)


@given(st.binary(max_size=64), st.sampled_from(["rabbit", "r"]))
def test_any_bytes_decode_to_a_registration_or_a_typed_error(data: bytes, alive: str) -> None:
    with contextlib.suppress(BadReply, NotFound):
        assert isinstance(epmd.decode_port2(data, alive), DistRegistration)


@given(st.lists(st.tuples(st.from_regex(r"[a-z][a-z0-9_-]{0,20}", fullmatch=True), st.integers(1, 65535)),
                max_size=5))
def test_well_formed_names_replies_round_trip(entries: list[tuple[str, int]]) -> None:
    text = "".join(f"name {alive} at port {port}\n" for alive, port in entries)
    names = epmd.decode_names(struct.pack(">I", 4369) + text.encode())
    kept = [(a, p) for a, p in entries if not a.startswith("rabbitmqcli-")]
    assert [(n.alive, n.port) for n in names.nodes] == kept


# --- against peers -----------------------------------------------------------------------------------


def names_from(handler: Handler, timeout: float = 1.0) -> tuple[PortCheck, Observation[EpmdNames]]:
    async def run() -> tuple[PortCheck, Observation[EpmdNames]]:
        async with serve(handler) as port:
            return await epmd.probe_names("127.0.0.1", port, timeout)

    return asyncio.run(run())


def port_from(handler: Handler, timeout: float = 1.0) -> Observation[DistRegistration]:
    async def run() -> Observation[DistRegistration]:
        async with serve(handler) as port:
            return await epmd.probe_port_please("127.0.0.1", port, "rabbit", timeout)

    return asyncio.run(run())


def error_of(obs: Observation[Any]) -> ProbeError:
    assert obs.error is not None and obs.value is None
    return obs.error


def test_names_probe_against_replayed_capture_is_an_open_epmd_port() -> None:
    check, obs = names_from(replies(NAMES))
    assert check.status == "open" and check.speaks_protocol is True
    assert obs.value is not None and obs.value.port_of("rabbit") == 25672


def test_silent_epmd_port_times_out_within_the_probe_timeout() -> None:
    t0 = time.perf_counter()
    check, obs = names_from(silent, timeout=0.3)
    assert time.perf_counter() - t0 < 1.0
    assert check.status == "open" and check.speaks_protocol is False
    assert error_of(obs).kind == "timeout"


def test_http_server_on_the_epmd_port_does_not_speak_epmd() -> None:
    check, obs = names_from(replies(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"))
    assert check.speaks_protocol is False and "NAMES reply" in (check.protocol_detail or "")
    assert error_of(obs).kind == "bad_reply"


def test_endless_names_reply_is_cut_at_the_size_limit() -> None:
    flood = struct.pack(">I", 4369) + b"name x at port 1\n" * (epmd.MAX_NAMES_REPLY // 17 + 10)
    _, obs = names_from(replies(flood, then_wait=True), timeout=2.0)
    assert error_of(obs).kind == "bad_reply" and "larger than" in error_of(obs).detail


def test_refused_epmd_port_is_refused() -> None:
    async def closed_port() -> int:
        async with serve(hang_up) as port:
            return port

    free = asyncio.run(closed_port())  # the server is closed again: nothing listens there now
    check, obs = asyncio.run(epmd.probe_names("127.0.0.1", free, 1.0))
    assert check.status == "refused" and error_of(obs).kind == "refused"


def test_port_please_against_replayed_capture_and_a_missing_node() -> None:
    found = port_from(replies(PORT2))
    assert found.value is not None and found.value.port == 25672
    missing = error_of(port_from(replies(NOT_REGISTERED)))
    assert missing.kind == "not_found" and "not running" in missing.detail


def test_port_please_with_a_huge_extra_field_is_refused_without_reading_it() -> None:
    problem = error_of(port_from(replies(PORT2[:-2] + b"\xff\xff", then_wait=True)))
    assert problem.kind == "bad_reply" and "65535 extra bytes" in problem.detail


def test_silent_port_please_times_out_within_the_probe_timeout() -> None:
    t0 = time.perf_counter()
    assert error_of(port_from(silent, timeout=0.3)).kind == "timeout"
    assert time.perf_counter() - t0 < 1.0
