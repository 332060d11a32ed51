"""The host collector script (run here with the system's sh) and its parser, fuzzed."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rabbitmq_preflight.collect.hostview import (
    NoCollectorOutput,
    build_script,
    parse_hostview,
)
from rabbitmq_preflight.facts import View
from rabbitmq_preflight.inventory import parse_inventory
from tests.hostview_replies import FINGERPRINT, inventory, reply, view

COOKIE_TEXT = "ABCDEFGHIJKLMNOPQRST"


def run_script(cookie: Path, shell: str = "sh", data_dir: Path | None = None) -> tuple[str, View]:
    inv = parse_inventory({"nodes": [{"name": "rabbit@localhost"}, {"name": "rabbit@no-such-host.invalid"}],
                           "ssh": {"cookie_file": str(cookie), "data_dir": str(data_dir or cookie.parent)}}, "t")
    before = time.time()
    done = subprocess.run([shell, "-s"], input=build_script(inv, 5.0), capture_output=True, text=True,
                          timeout=30, check=False)
    after = time.time()
    return done.stdout, parse_hostview(done.stdout, inv, "rabbit@localhost", before, after)


@pytest.fixture
def cookie(tmp_path: Path) -> Path:
    path = tmp_path / ".erlang.cookie"
    path.write_text(COOKIE_TEXT + "\n")
    path.chmod(0o400)
    return path


@pytest.mark.parametrize("shell", ["sh", "dash", "bash"])
def test_the_script_fingerprints_the_cookie_as_erlang_cookie_hash_does_and_never_prints_it(
        cookie: Path, shell: str) -> None:
    if shutil.which(shell) is None:
        pytest.skip(f"no {shell} here")
    out, v = run_script(cookie, shell)
    assert COOKIE_TEXT not in out and COOKIE_TEXT.lower() not in out
    assert v.cookie is not None
    [src] = v.cookie.sources
    expected = base64.b64encode(hashlib.md5(COOKIE_TEXT.encode()).digest()).decode()
    assert src.value is not None and src.value.fingerprint == expected == FINGERPRINT
    assert (src.mode, src.present, src.regular) == ("0400", True, True)
    assert (src.value.length, src.value.distinct_chars) == (20, 20)
    assert v.cookie.effective == "server_file"


def test_the_script_says_which_names_resolve_and_tries_every_port_from_the_host(cookie: Path) -> None:
    _, v = run_script(cookie)
    assert v.resolution["localhost"].system.ok
    bad = v.resolution["no-such-host.invalid"].system
    assert bad.error is not None and bad.error.kind == "unresolvable"
    ports = v.nodes["rabbit@no-such-host.invalid"].ports
    assert set(ports) == {"epmd", "dist", "amqp", "management"}
    assert {p.status for p in ports.values()} == {"unresolvable"}
    assert v.host is not None and v.host.clock is not None and abs(v.host.clock.offset) < 5
    assert v.origin.node == "rabbit@localhost" and v.origin.collector_errors == []


def test_the_script_judges_cookie_content_as_erlang_does(tmp_path: Path) -> None:
    cases = {"mycookie": (True, False), "abcabcabcabc\n \n": (False, True)}
    for text, (well_known, repeated) in cases.items():
        path = tmp_path / "c"
        path.write_text(text)
        _, v = run_script(path)
        assert v.cookie is not None
        value = v.cookie.sources[0].value
        assert value is not None and (value.well_known, value.repeated_pattern) == (well_known, repeated), text
    path = tmp_path / "c"
    path.write_bytes(b"abc\x01def")
    _, v = run_script(path)
    assert v.cookie is not None and v.cookie.sources[0].content_problem == "bad_characters"
    assert v.cookie.effective is None


@pytest.mark.parametrize("text", ["aaaa", "abab", "abcab", "ab*ab*", "a?a?", "[a][a]", "x", "abcdabcdabce",
                                  "ab ab ", "abcabcab", "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzy"])
def test_a_repeated_pattern_is_found_as_python_finds_it_whatever_the_characters(tmp_path: Path, text: str) -> None:
    n = len(text)
    expected = any(n % p == 0 and text[:p] * (n // p) == text for p in range(1, n // 2 + 1))
    path = tmp_path / "c"
    path.write_text(text)
    _, v = run_script(path)
    assert v.cookie is not None
    value = v.cookie.sources[0].value
    assert value is not None and value.repeated_pattern == expected and value.length == n
    assert value.fingerprint == base64.b64encode(hashlib.md5(text.encode()).digest()).decode()


def test_a_missing_cookie_file_is_absent_not_unknown(tmp_path: Path) -> None:
    _, v = run_script(tmp_path / "nothing-here")
    assert v.cookie is not None and v.cookie.sources[0].present is False


def test_node_directories_are_listed_by_name(tmp_path: Path, cookie: Path) -> None:
    data = tmp_path / "mnesia"
    (data / "rabbit@localhost").mkdir(parents=True)
    (data / "rabbit@3f2a9c1e").mkdir()
    (data / "rabbit@localhost-feature_flags").write_text("x")
    _, v = run_script(cookie, data_dir=data)
    assert v.host is not None and v.host.node_dirs is not None
    assert sorted(v.host.node_dirs.value or []) == ["rabbit@3f2a9c1e", "rabbit@localhost"]
    assert v.host.disk is not None and v.host.disk.value is not None and v.host.disk.value.total_bytes > 0


def test_the_script_writes_nothing_it_only_reads() -> None:
    script = build_script(inventory(), 2.0)
    redirections = re.findall(r"[0-9]?<?>>?(?!&)\s*([^\s&|;)]+)", script)
    # /dev/null, and the TCP test's socket (bash opens `/dev/tcp/HOST/PORT` as a connection, not a file)
    # ("1": awk's `NF > 1`, a comparison)
    assert set(redirections) == {"/dev/null", "\"/dev/tcp/$3/$4\"", "1"}, redirections
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_-]*", script))
    assert not words & {"mktemp", "tee", "touch", "rm", "mv", "cp", "dd", "install", "mkdir", "chmod", "ln"}


def test_inventory_values_reach_the_script_quoted() -> None:
    inv = parse_inventory({"nodes": [{"name": "rabbit@a"}],
                           "ssh": {"cookie_file": "/tmp/x'; touch /tmp/pwned; '"}}, "t")
    script = build_script(inv, 1.0)
    assert "COOKIE='/tmp/x'\"'\"'; touch /tmp/pwned; '\"'\"''" in script


def test_a_login_banner_before_the_header_is_skipped_and_no_header_is_no_collector() -> None:
    v = view("rabbit1", reply("rabbit1", banner="Welcome to rabbit1!\n"))
    assert v.origin.hostname == "rabbit1" and v.resolution["rabbit2"].system.value == ["10.0.0.12"]
    with pytest.raises(NoCollectorOutput):
        parse_hostview("This account is currently not available.\n", inventory(), "rabbit@rabbit1", 0, 1)


def test_a_reply_cut_short_is_said_so() -> None:
    text = reply("rabbit1").split("COOKIE\t")[0]
    v = view("rabbit1", text)
    assert v.origin.collector_errors == ["ssh collector: output ended before END (cut off or killed)"]
    assert v.cookie is None  # not collected, so cookie rules say unknown


def test_records_about_hosts_and_nodes_the_inventory_does_not_list_are_ignored() -> None:
    text = reply("rabbit1").replace("END\n", "RES\tevil.example\t0\t6.6.6.6\n"
                                    "TCP\trabbit@evil\tdist\t25672\topen\t1\t\n"
                                    "TCP\trabbit@rabbit2\tdist\t1\topen\t1\t\nEND\n")
    v = view("rabbit1", text)
    assert "evil.example" not in v.resolution and "rabbit@evil" not in v.nodes
    assert v.nodes["rabbit@rabbit2"].ports["dist"].port == 25672


def test_ports_and_statuses_are_read_per_source_and_destination() -> None:
    v = view("rabbit2", reply("rabbit2", tcp={("rabbit@rabbit1", "dist"): "timeout",
                                              ("rabbit@rabbit3", "amqp"): "refused"}))
    assert v.nodes["rabbit@rabbit1"].ports["dist"].status == "timeout"
    assert "from rabbit@rabbit2" in (v.nodes["rabbit@rabbit1"].ports["dist"].detail or "")
    assert v.nodes["rabbit@rabbit3"].ports["amqp"].status == "refused"
    assert v.nodes["rabbit@rabbit3"].ports["dist"].status == "open"


_FIELD = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=40)
_KEYS = st.sampled_from(["CLOCK", "HOST", "USER", "RES", "HOSTSFILE", "TCP", "COOKIE", "COOKIEREAD",
                         "COOKIEVALUE", "BROKER", "DISK", "NODEDIRS", "NODEDIR", "CLOCKEND", "X", ""])
_LINE = st.builds(lambda k, fs: "\t".join([k, *fs]), _KEYS, st.lists(_FIELD, max_size=8))


@settings(max_examples=300, deadline=None)
@given(st.lists(_LINE, max_size=40), st.booleans())
def test_any_reply_parses_into_a_valid_view_or_says_there_was_no_collector(lines: list[str], header: bool) -> None:
    text = "\n".join((["PREFLIGHT-HOSTVIEW 1"] if header else []) + lines)
    try:
        v = parse_hostview(text, inventory(), "rabbit@rabbit1", 1.0, 2.0)
    except NoCollectorOutput:
        assert not header
        return
    View.model_validate_json(v.model_dump_json())  # what a facts file would carry loads back
    assert set(v.nodes) == {"rabbit@rabbit1", "rabbit@rabbit2", "rabbit@rabbit3"}
    assert set(v.resolution) <= {"rabbit1", "rabbit2", "rabbit3"}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(reply("rabbit1").splitlines()[1:]), max_size=60),
       st.lists(st.tuples(st.integers(0, 59), _FIELD), max_size=6))
def test_shuffled_and_corrupted_real_records_never_break_the_parser(lines: list[str],
                                                                   corruptions: list[tuple[int, str]]) -> None:
    for index, junk in corruptions:
        if index < len(lines):
            lines[index] = lines[index][: len(lines[index]) // 2] + junk
    v = parse_hostview("\n".join(["PREFLIGHT-HOSTVIEW 1", *lines]), inventory(), "rabbit@rabbit1", 1.0, 2.0)
    View.model_validate_json(v.model_dump_json())


def test_huge_replies_are_bounded() -> None:
    text = "PREFLIGHT-HOSTVIEW 1\n" + ("NODEDIR\trabbit@" + "x" * 10_000 + "\n") * 50_000
    v = parse_hostview(text, inventory(), "rabbit@rabbit1", 1.0, 2.0)
    assert v.host is not None and v.host.node_dirs is None  # NODEDIR without NODEDIRS ok: ignored


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make a file unreadable to another user")
def test_a_cookie_file_the_ssh_user_cannot_read_is_said_so_not_fingerprinted() -> None:
    import tempfile

    directory = Path(tempfile.mkdtemp(prefix="preflight-hostview-"))  # searchable by everyone, unlike tmp_path
    directory.chmod(0o755)
    cookie = directory / ".erlang.cookie"
    cookie.write_text(COOKIE_TEXT)
    cookie.chmod(0o400)
    inv = parse_inventory({"nodes": [{"name": "rabbit@localhost"}], "ssh": {"cookie_file": str(cookie)}}, "t")
    done = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "sh", "-s"],
                          input=build_script(inv, 1.0), capture_output=True, text=True, timeout=30, check=False)
    if "PREFLIGHT-HOSTVIEW" not in done.stdout:
        pytest.skip(f"cannot run as nobody here: {done.stderr[:100]}")
    v = parse_hostview(done.stdout, inv, "rabbit@localhost", 0, 1)
    assert v.cookie is not None
    [src] = v.cookie.sources
    assert src.readable is False and src.value is None and src.mode == "0400"
    assert src.error is not None and "is not readable by nobody" in src.error.detail
    shutil.rmtree(directory)


def test_every_mode_stat_prints_is_read_as_octal() -> None:
    for printed, mode in (("400", "0400"), ("644", "0644"), ("7777", "7777"), ("0", "0000")):
        v = view("rabbit1", reply("rabbit1", mode=printed))
        assert v.cookie is not None and v.cookie.sources[0].mode == mode, printed
