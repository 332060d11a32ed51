"""The Erlang distribution handshake client: captured OTP 25 bytes, a replaying node, hostile peers."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import struct
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rabbitmq_preflight.collect import distribution
from rabbitmq_preflight.collect.cookie import Cookie
from rabbitmq_preflight.collect.distribution import Attempt
from rabbitmq_preflight.collect.options import CollectOptions
from rabbitmq_preflight.facts import DistHandshake, NodeFacts, Observation, PortCheck, ProbeError
from rabbitmq_preflight.inventory import ClusterSection, Inventory, NodeSpec
from rabbitmq_preflight.outcomes import BadReply, Forbidden, ProbeFailure
from tests.fakes.erlang import (
    LAB_COOKIE,
    Handler,
    fake_node,
    fixture,
    hang_up,
    read_framed,
    replies,
    serve,
    silent,
)

STATUS = fixture("dist_status_ok_otp25.bin")
CHALLENGE = fixture("dist_challenge_otp25.bin")
ACK = fixture("dist_challenge_ack_otp25.bin")
META = json.loads(fixture("dist_handshake_otp25.json"))
WHAT = "rabbit@rabbit1 (distribution port 25672)"


def test_our_flags_are_hidden_and_cover_otp25_mandatory_flags() -> None:
    assert distribution.OUR_FLAGS == 0xD075F5FBC  # the value verified against OTP 25
    assert distribution.OUR_FLAGS & 0x1070F94 == 0x1070F94  # erts_internal:get_dflags() mandatory set
    assert not distribution.OUR_FLAGS & 0x1  # DFLAG_PUBLISHED: we are a hidden node


def test_send_name_v6_layout() -> None:
    body = distribution.encode_send_name("preflight-1-2@vm", creation=7)
    assert body == b"N" + struct.pack(">QIH", distribution.OUR_FLAGS, 7, 16) + b"preflight-1-2@vm"


def test_send_name_v5_layout_and_complement() -> None:
    body = distribution.encode_send_name("p@h", creation=7, version=5)
    assert body == b"n" + struct.pack(">HI", 5, distribution.OUR_FLAGS & 0xFFFFFFFF) + b"p@h"
    assert distribution.encode_complement(7) == b"c" + struct.pack(">II", distribution.OUR_FLAGS >> 32, 7)


def test_captured_status_and_challenge_decode() -> None:
    assert distribution.decode_status(STATUS[2:], WHAT) == "ok"
    challenge = distribution.decode_challenge(CHALLENGE[2:], WHAT)
    assert challenge.name == "rabbit@rabbit1" and challenge.version == 6
    assert challenge.flags == 0xD07DF7FBD  # OTP 25 defaults + PUBLISHED, as the reference recorded


def test_captured_ack_is_the_digest_of_our_challenge_with_the_lab_cookie() -> None:
    digest = distribution.decode_ack(ACK[2:], WHAT)
    assert digest == distribution.gen_digest(META["our_challenge"], Cookie(LAB_COOKIE))
    assert digest == hashlib.md5(LAB_COOKIE + str(META["our_challenge"]).encode()).digest()


def test_digest_uses_the_unsigned_decimal_challenge() -> None:
    assert distribution.gen_digest(0xFFFFFFFF, Cookie(b"c")) == hashlib.md5(b"c4294967295").digest()


@pytest.mark.parametrize(("status", "failure", "words"), [
    ("not_allowed", Forbidden, "does not allow"),
    ("alive", ProbeFailure, "already connected"),
    ("nok", ProbeFailure, "same time"),
    ("named:x", BadReply, "unexpected handshake status"),
])
def test_status_other_than_ok_is_a_typed_could_not_test(status: str, failure: type[ProbeFailure],
                                                        words: str) -> None:
    with pytest.raises(failure, match=words):
        distribution.check_status(status, WHAT, "preflight-1-1@vm")


@pytest.mark.parametrize(("prefix", "speaker"), [(b"HT", "an HTTP server"), (b"AM", "an AMQP listener"),
                                                 (b"\xff\xff", "something"), (b"\x00\x00", "something")])
def test_implausible_length_prefix_is_refused_before_reading(prefix: bytes, speaker: str) -> None:
    with pytest.raises(BadReply, match=f"{speaker} answered"):
        distribution.message_length(prefix, WHAT)


def test_challenge_with_a_lying_name_length_is_a_bad_reply() -> None:
    body = bytearray(CHALLENGE[2:])
    body[17:19] = struct.pack(">H", 200)
    with pytest.raises(BadReply, match="200-byte name"):
        distribution.decode_challenge(bytes(body), WHAT)


@given(st.binary(max_size=64))
def test_any_bytes_decode_to_a_status_or_a_bad_reply(data: bytes) -> None:
    with contextlib.suppress(BadReply):
        assert isinstance(distribution.decode_status(data, WHAT), str)


@given(st.binary(max_size=300))
def test_any_bytes_decode_to_a_challenge_or_a_bad_reply(data: bytes) -> None:
    try:
        challenge = distribution.decode_challenge(data, WHAT)
        assert "@" in challenge.name and challenge.version in (5, 6)
    except BadReply:
        pass


@given(st.binary(max_size=40))
def test_any_bytes_decode_to_an_ack_or_a_bad_reply(data: bytes) -> None:
    with contextlib.suppress(BadReply):
        assert len(distribution.decode_ack(data, WHAT)) == 16


@given(st.binary(min_size=2, max_size=2))
def test_any_length_prefix_is_a_bounded_size_or_a_bad_reply(prefix: bytes) -> None:
    with contextlib.suppress(BadReply):
        assert 0 < distribution.message_length(prefix, WHAT) <= distribution.MAX_MESSAGE


class _NullWriter:
    """Accepts writes, like a socket whose peer never reads; enough for `handshake`."""

    def write(self, data: bytes) -> None:
        pass

    async def drain(self) -> None:
        pass


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=120))
def test_handshake_over_any_reply_bytes_ends_in_a_verdict_or_a_typed_failure(data: bytes) -> None:
    async def run() -> DistHandshake:
        reader = asyncio.StreamReader()
        reader.feed_data(data)
        reader.feed_eof()
        attempt = Attempt(node="rabbit@rabbit1", port=25672, our_name="preflight-1-1@vm")
        return await distribution.handshake(reader, _NullWriter(), attempt, Cookie(b"x"))  # type: ignore[arg-type]

    try:
        result = asyncio.run(run())
    except ProbeFailure:
        return
    assert result.verdict == "rejected"  # random bytes cannot prove the cookie


# --- against peers -----------------------------------------------------------------------------------


def attempt(node: str = "rabbit@rabbit1", version: int = 6) -> Attempt:
    return Attempt(node=node, port=0, our_name="preflight-test-1@vm", version=version,
                   our_challenge=META["our_challenge"], creation=META["creation"])


def shake(handler: Handler, cookie: bytes = LAB_COOKIE, timeout: float = 1.0,
          how: Attempt | None = None) -> tuple[PortCheck, Observation[DistHandshake]]:
    async def run() -> tuple[PortCheck, Observation[DistHandshake]]:
        async with serve(handler) as port:
            a = how or attempt()
            a.port = port
            return await distribution.probe_handshake("127.0.0.1", a, Cookie(cookie), timeout)

    return asyncio.run(run())


def error_of(obs: Observation[Any]) -> ProbeError:
    assert obs.error is not None and obs.value is None
    return obs.error


def test_replayed_node_accepts_the_right_cookie_and_its_captured_ack_verifies() -> None:
    check, obs = shake(fake_node(ack=ACK[2:]))
    assert check.status == "open" and check.speaks_protocol is True
    assert obs.value is not None and obs.value.verdict == "accepted"
    assert obs.value.remote_name == "rabbit@rabbit1" and obs.value.name_matches
    assert obs.value.our_name == "preflight-test-1@vm" and obs.value.remote_flags == "0xd07df7fbd"


def test_node_that_hangs_up_after_our_reply_rejected_the_cookie() -> None:
    check, obs = shake(fake_node(), cookie=b"WRONG-COOKIE")
    assert check.speaks_protocol is True
    assert obs.value is not None and obs.value.verdict == "rejected"
    assert obs.value.remote_name == "rabbit@rabbit1"


def test_node_announcing_another_name_is_recorded_as_a_name_mismatch() -> None:
    _, obs = shake(fake_node(), how=attempt(node="rabbit@localhost"))
    assert obs.value is not None and obs.value.verdict == "accepted"
    assert obs.value.remote_name == "rabbit@rabbit1" and obs.value.name_matches is False


def test_v5_client_sends_the_complement_to_a_v6_node() -> None:
    _, obs = shake(fake_node(), how=attempt(version=5))
    assert obs.value is not None and obs.value.verdict == "accepted" and obs.value.version == 6


def test_ack_that_does_not_prove_the_cookie_is_a_bad_reply_not_an_acceptance() -> None:
    _, obs = shake(fake_node(ack=b"a" + bytes(16)))
    assert error_of(obs).kind == "bad_reply" and "does not prove" in error_of(obs).detail


def test_silent_peer_is_a_timeout_within_the_probe_timeout_and_not_a_dist_port() -> None:
    t0 = time.perf_counter()
    check, obs = shake(silent, timeout=0.3)
    assert time.perf_counter() - t0 < 1.0
    assert error_of(obs).kind == "timeout" and "sent no handshake status" in error_of(obs).detail
    assert check.status == "open" and check.speaks_protocol is False


def test_peer_silent_after_the_status_times_out_but_speaks_the_protocol() -> None:
    check, obs = shake(replies(STATUS, then_wait=True), timeout=0.3)
    assert error_of(obs).kind == "timeout" and "stopped answering" in error_of(obs).detail
    assert check.speaks_protocol is True


def test_garbage_peer_is_a_bad_reply_naming_what_answered() -> None:
    check, obs = shake(replies(b"HTTP/1.1 400 Bad Request\r\n\r\n"))
    assert error_of(obs).kind == "bad_reply" and "an HTTP server" in error_of(obs).detail
    assert check.speaks_protocol is False and "HTTP" in (check.protocol_detail or "")


def test_early_close_is_closed_not_rejected() -> None:
    check, obs = shake(hang_up)
    assert error_of(obs).kind == "closed" and "without a handshake status" in error_of(obs).detail
    assert check.speaks_protocol is False


def test_oversized_length_prefix_is_refused_in_bounded_time() -> None:
    t0 = time.perf_counter()
    _, obs = shake(replies(b"\xff\xff" + b"x" * 100, then_wait=True), timeout=2.0)
    assert time.perf_counter() - t0 < 1.0
    assert error_of(obs).kind == "bad_reply" and "65535-byte message" in error_of(obs).detail


def test_not_allowed_status_is_forbidden() -> None:
    _, obs = shake(replies(struct.pack(">H", 12) + b"snot_allowed"))
    assert error_of(obs).kind == "forbidden"


def test_closed_dist_port_is_refused() -> None:
    async def closed_port() -> int:
        async with serve(hang_up) as port:
            return port

    how = attempt()
    how.port = asyncio.run(closed_port())
    check, obs = asyncio.run(distribution.probe_handshake("127.0.0.1", how, Cookie(LAB_COOKIE), 1.0))
    assert check.status == "refused" and error_of(obs).kind == "refused"


# --- the collector: EPMD first, then the handshake on the port it names ------------------------------


def fake_epmd(dist_port: int) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await read_framed(reader)
        if request == b"n":
            writer.write(struct.pack(">I", 4369) + f"name rabbit at port {dist_port}\n".encode())
        else:
            name = request[1:]
            writer.write(b"w\x00" + struct.pack(">HBBHHH", dist_port, 77, 0, 6, 5, len(name)) + name + b"\x00\x00")
        await writer.drain()

    return handler


def options(tmp_path: Path, node: NodeSpec, cookie: bytes | None, **flags: bool) -> CollectOptions:
    """Options with a cookie file holding `cookie` (None: a cookie file that does not exist)."""
    cookie_file = tmp_path / "cookie"
    if cookie is not None:
        cookie_file.write_bytes(cookie + b"\n")
        cookie_file.chmod(0o400)
    inv = Inventory(nodes=[node], cluster=ClusterSection(cookie_file=cookie_file))
    return CollectOptions.of(inv, timeout=0.5, deadline=5.0, **flags)


async def collect_one(tmp_path: Path, epmd_port: int, cookie: bytes | None = LAB_COOKIE,
                      dist_port: int | None = None, **flags: bool) -> NodeFacts:
    spec = NodeSpec(name="rabbit@rabbit1", address="127.0.0.1", epmd_port=epmd_port, dist_port=dist_port)
    facts = NodeFacts(name=spec.name, target=spec.target)
    await distribution.collect_distribution(spec, facts, options(tmp_path, spec, cookie, **flags))
    return facts


def collect_via_epmd(tmp_path: Path, dist: Handler, cookie: bytes | None = LAB_COOKIE, **flags: bool) -> NodeFacts:
    async def run() -> NodeFacts:
        async with serve(dist) as dist_port, serve(fake_epmd(dist_port)) as epmd_port:
            return await collect_one(tmp_path, epmd_port, cookie, **flags)

    return asyncio.run(run())


def value_of(obs: Observation[Any] | None) -> Any:
    assert obs is not None and obs.value is not None, obs
    return obs.value


def test_collector_learns_the_dist_port_from_epmd_and_runs_the_handshake_on_it(tmp_path: Path) -> None:
    facts = collect_via_epmd(tmp_path, fake_node())
    epmd_check, dist_check = facts.ports["epmd"], facts.ports["dist"]
    assert epmd_check.status == "open" and epmd_check.speaks_protocol is True
    assert value_of(facts.dist_registration).port == dist_check.port
    assert dist_check.status == "open" and dist_check.speaks_protocol is True
    assert value_of(facts.handshake).verdict == "accepted"


def test_no_handshake_only_connects_to_the_dist_port(tmp_path: Path) -> None:
    received: list[bytes] = []

    async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.append(await reader.read(100))

    async def run() -> NodeFacts:
        async with serve(record) as dist_port, serve(fake_epmd(dist_port)) as epmd_port:
            facts = await collect_one(tmp_path, epmd_port, no_handshake=True)
            async with asyncio.timeout(1):
                while not received:
                    await asyncio.sleep(0.01)
            return facts

    facts = asyncio.run(run())
    assert facts.ports["dist"].status == "open" and facts.ports["dist"].speaks_protocol is None
    assert facts.handshake is not None and error_of(facts.handshake).kind == "skipped"
    assert "--no-handshake" in error_of(facts.handshake).detail
    assert received == [b""]  # we connected and hung up without a word


def test_missing_cookie_file_means_no_handshake_and_says_why(tmp_path: Path) -> None:
    facts = collect_via_epmd(tmp_path, fake_node(), cookie=None)
    assert facts.handshake is not None and error_of(facts.handshake).kind == "not_configured"
    assert str(tmp_path / "cookie") in error_of(facts.handshake).detail
    assert facts.ports["dist"].status == "open"


def test_wrong_cookie_is_rejected_through_the_collector(tmp_path: Path) -> None:
    facts = collect_via_epmd(tmp_path, fake_node(), cookie=b"SOME-OTHER-COOKIE-0123456789")
    assert value_of(facts.handshake).verdict == "rejected"


def test_silent_epmd_costs_one_timeout_and_leaves_the_dist_port_unknown(tmp_path: Path) -> None:
    async def run() -> NodeFacts:
        async with serve(silent) as epmd_port:
            return await collect_one(tmp_path, epmd_port)

    t0 = time.perf_counter()
    facts = asyncio.run(run())
    assert time.perf_counter() - t0 < 0.9  # NAMES and PORT_PLEASE2 wait together: one 0.5 s timeout
    assert facts.ports["epmd"].speaks_protocol is False and "dist" not in facts.ports
    assert facts.handshake is not None and error_of(facts.handshake).kind == "timeout"  # unknown, not skipped
    assert "set `dist_port`" in error_of(facts.handshake).detail


def test_node_not_registered_with_epmd_is_not_found(tmp_path: Path) -> None:
    async def run() -> NodeFacts:
        async with serve(replies(b"w\x01")) as epmd_port:
            return await collect_one(tmp_path, epmd_port)

    facts = asyncio.run(run())
    assert facts.handshake is not None and error_of(facts.handshake).kind == "not_found"


def test_inventory_dist_port_skips_port_please(tmp_path: Path) -> None:
    async def run() -> NodeFacts:
        async with serve(fake_node()) as dist_port, serve(fake_epmd(dist_port)) as epmd_port:
            return await collect_one(tmp_path, epmd_port, dist_port=dist_port)

    facts = asyncio.run(run())
    assert facts.dist_registration is None
    assert value_of(facts.handshake).verdict == "accepted" and facts.ports["epmd"].status == "open"
