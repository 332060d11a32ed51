"""Local cookie facts: Erlang's parsing rules, the fingerprint, sources and their order, exposure."""

from __future__ import annotations

import os
import pickle
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rabbitmq_preflight.collect import cookie
from rabbitmq_preflight.collect.cookie import Cookie, Homes, parse_cookie_file, read_local_cookie

SECRET = b"Zq8-unit-test-cookie-value-Xw31"


def parsed(data: bytes) -> bytes | str | None:
    result = parse_cookie_file(data)
    return result.cookie.reveal() if result.cookie else result.problem


@pytest.mark.parametrize(("data", "expected"), [
    (b"abc\n", b"abc"),  # the trailing newline does not matter
    (b"abc\r\n", b"abc"),
    (b"abc \n", b"abc "),  # a trailing space does: Erlang keeps it
    (b"  abc", b"  abc"),
    (b"abc\n \n", b"abc"),
    (b"abc\tx", "bad_characters"),  # VERIFIED with erl: Bad characters in cookie
    (b"\xef\xbb\xbfabc", "bad_characters"),  # a byte-order mark
    (b"abc\ndef", "bad_characters"),
    (b"", "empty"),
    (b"\n", "empty"),
    (b"x" * 256, "too_long"),
    (b"x" * 255 + b"\n", b"x" * 255),
])
def test_cookie_file_content_follows_otp_auth_rules(data: bytes, expected: bytes | str) -> None:
    assert parsed(data) == expected


@given(st.binary(max_size=400))
def test_any_bytes_give_a_printable_cookie_or_a_content_problem(data: bytes) -> None:
    result = parse_cookie_file(data)
    assert (result.cookie is None) != (result.problem is None)
    if result.cookie is not None:
        raw = result.cookie.reveal()
        assert 0 < len(raw) <= 255 and all(0x20 <= b <= 0x7E for b in raw) and data.startswith(raw)


@given(st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=255),
       st.text(alphabet="\n\r ", max_size=5))
def test_printable_cookie_survives_trailing_newlines(value: str, tail: str) -> None:
    result = parse_cookie_file(value.encode() + b"\n" + tail.encode())
    assert result.cookie is not None and result.cookie.reveal() == value.encode()


def test_fingerprint_is_the_erlang_cookie_hash_format() -> None:
    # VERIFIED: rabbitmq-diagnostics --erlang-cookie WRONGCOOKIE prints this hash (reference §4)
    assert cookie.fingerprint(Cookie(b"WRONGCOOKIE")) == "eBvV8M32jyrgpl1Oqssp0Q=="


def test_cookie_object_never_shows_its_value() -> None:
    c = Cookie(SECRET)
    for shown in (repr(c), str(c), f"{c}", "%s" % c, repr([c]), repr({"k": c})):  # noqa: UP031
        assert SECRET.decode() not in shown and "redacted" in shown
    with pytest.raises(TypeError):
        pickle.dumps(c)
    assert c == Cookie(SECRET) and c != Cookie(b"other")


def test_weak_values_are_described_without_the_value() -> None:
    value = cookie.describe(Cookie(b"mycookie"))
    assert value.well_known and value.length == 8
    assert SECRET.decode() not in value.model_dump_json()
    repeated = cookie.describe(Cookie(b"abcabcabcabcabcabcabcabc"))
    assert repeated.repeated_pattern and repeated.distinct_chars == 3
    assert cookie.describe(Cookie(b"SWQOKODSQALRPCLNMEQG")).well_known  # the compose-file classic
    strong = cookie.describe(Cookie(SECRET))
    assert not (strong.well_known or strong.repeated_pattern or strong.edge_spaces)
    assert cookie.describe(Cookie(b"abc ")).edge_spaces


# --- sources and their order ------------------------------------------------------------------------


@pytest.fixture
def homes(tmp_path: Path) -> Homes:
    (tmp_path / "server").mkdir()
    (tmp_path / "me").mkdir()
    return Homes(server=tmp_path / "server", server_user=None, user=tmp_path / "me", user_name="tester")


def write(path: Path, data: bytes, mode: int = 0o400) -> Path:
    path.write_bytes(data)
    path.chmod(mode)
    return path


def test_explicit_cookie_file_is_used_and_inspected(tmp_path: Path, homes: Homes) -> None:
    f = write(tmp_path / "given", SECRET + b"\n", 0o640)
    local = read_local_cookie(f, environ={}, homes=homes)
    assert local.facts.effective == "cookie_file" and local.secret == Cookie(SECRET)
    src = local.facts.sources[0]
    assert (src.kind, src.path, src.present, src.readable, src.regular) == ("cookie_file", str(f), True, True, True)
    assert src.mode == "0640" and src.size == len(SECRET) + 1
    assert src.value is not None and src.value.fingerprint == cookie.fingerprint(Cookie(SECRET))


def test_missing_explicit_file_does_not_fall_back_to_another_cookie(tmp_path: Path, homes: Homes) -> None:
    write(homes.server / ".erlang.cookie", b"server-cookie-0123456789")
    local = read_local_cookie(tmp_path / "nope", environ={"RABBITMQ_ERLANG_COOKIE": "x" * 30}, homes=homes)
    assert local.secret is None and local.facts.effective is None
    assert local.facts.sources[0].present is False


def test_order_is_env_then_server_file_then_user_file(homes: Homes) -> None:
    write(homes.server / ".erlang.cookie", b"server-cookie-0123456789")
    write(homes.user / ".erlang.cookie", b"user-cookie-0123456789")
    env = read_local_cookie(None, environ={"RABBITMQ_ERLANG_COOKIE": "env-cookie"}, homes=homes)
    assert env.facts.effective == "env" and env.secret == Cookie(b"env-cookie")
    assert read_local_cookie(None, environ={}, homes=homes).secret == Cookie(b"server-cookie-0123456789")
    (homes.server / ".erlang.cookie").unlink()
    local = read_local_cookie(None, environ={}, homes=homes)
    assert local.facts.effective == "user_file" and local.secret == Cookie(b"user-cookie-0123456789")
    assert [s.kind for s in local.facts.sources] == ["env", "server_file", "user_file"]


def test_unreadable_server_file_falls_through_to_the_user_file(homes: Homes, monkeypatch: pytest.MonkeyPatch) -> None:
    write(homes.server / ".erlang.cookie", b"server-cookie-0123456789")
    write(homes.user / ".erlang.cookie", b"user-cookie-0123456789")
    from rabbitmq_preflight.inputs import read_bounded as real_read

    def denied(path: Path | str, limit: int) -> bytes:
        if Path(path).parent == homes.server:
            raise PermissionError(13, "Permission denied")
        return real_read(path, limit)

    monkeypatch.setattr(cookie, "read_bounded", denied)
    local = read_local_cookie(None, environ={}, homes=homes)
    server = local.facts.source("server_file")
    assert server is not None and server.readable is False and server.error is not None
    assert server.error.kind == "denied" and "Permission denied" in server.error.detail
    assert local.facts.effective == "user_file"


def test_xdg_cookie_is_used_when_home_has_none(homes: Homes) -> None:
    xdg = homes.user / ".config" / "erlang"
    xdg.mkdir(parents=True)
    write(xdg / ".erlang.cookie", b"xdg-cookie-0123456789")
    local = read_local_cookie(None, environ={}, homes=homes)
    user = local.facts.source("user_file")
    assert user is not None and user.path == str(xdg / ".erlang.cookie") and local.facts.effective == "user_file"


def test_owner_expectations_follow_the_path(homes: Homes) -> None:
    homes = Homes(server=homes.server, server_user="rabbitmq", user=homes.user, user_name="tester")
    f = write(homes.server / ".erlang.cookie", SECRET)
    local = read_local_cookie(f, environ={}, homes=homes)
    assert [s.expected_owner for s in local.facts.sources] == ["rabbitmq", None, "rabbitmq", "tester"]
    assert local.facts.sources[0].owner == cookie._user_name(os.geteuid())


def test_bad_content_and_directory_are_reported_not_used(tmp_path: Path, homes: Homes) -> None:
    local = read_local_cookie(write(tmp_path / "tab", b"abc\tdef"), environ={}, homes=homes)
    assert local.secret is None and local.facts.sources[0].content_problem == "bad_characters"
    (tmp_path / "dir").mkdir()
    local = read_local_cookie(tmp_path / "dir", environ={}, homes=homes)
    assert local.facts.sources[0].regular is False and local.secret is None


def test_cookie_facts_carry_no_cookie_bytes(tmp_path: Path, homes: Homes) -> None:
    local = read_local_cookie(write(tmp_path / "c", SECRET), environ={"RABBITMQ_ERLANG_COOKIE": SECRET.decode()},
                              homes=homes)
    assert SECRET.decode() not in local.facts.model_dump_json()
    assert SECRET.decode() not in repr(local)


# --- exposure ----------------------------------------------------------------------------------------


def test_setcookie_and_env_are_exposure_with_a_fingerprint_only() -> None:
    proc = cookie.inspect_erlang_process(
        42, "rabbitmq", ["beam.smp", "--", "-setcookie", SECRET.decode(), "-s", "rabbit", "boot"], None)
    assert proc.cookie_in_cmdline is True and proc.cookie_in_env is None and proc.rabbit
    assert proc.exposed is not None and proc.exposed.fingerprint == cookie.fingerprint(Cookie(SECRET))
    assert SECRET.decode() not in proc.model_dump_json()
    quiet = cookie.inspect_erlang_process(43, "rabbitmq", ["beam.smp", "-s", "rabbit", "boot"], {"HOME": "/x"})
    assert quiet.cookie_in_cmdline is False and quiet.cookie_in_env is False and quiet.exposed is None


@pytest.fixture
def fake_beam(tmp_path: Path) -> Iterator[int]:
    """A real process named beam.smp with `-setcookie` on its command line and the variable set."""
    beam = tmp_path / "beam.smp"
    beam.symlink_to("/bin/sh")
    proc = subprocess.Popen([str(beam), "-c", "sleep 30; exit 0", "-setcookie", SECRET.decode(), "-s", "rabbit"],
                            env={"PATH": "/usr/bin:/bin", "RABBITMQ_ERLANG_COOKIE": SECRET.decode()})
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and "beam.smp" not in Path(f"/proc/{proc.pid}/comm").read_text():
        time.sleep(0.01)  # until exec has replaced the forked child
    try:
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()


def test_process_scan_finds_a_local_vm_exposing_its_cookie(fake_beam: int) -> None:
    observed = cookie.scan_erlang_processes()
    assert observed.value is not None
    [mine] = [p for p in observed.value if p.pid == fake_beam]
    assert mine.cookie_in_cmdline and mine.cookie_in_env and mine.rabbit
    assert SECRET.decode() not in observed.model_dump_json()
