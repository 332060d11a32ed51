"""Resolution collector pieces: the /etc/hosts parser and the system resolver with a timeout."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rabbitmq_preflight.collect.localhost import parse_proc_net_tcp
from rabbitmq_preflight.collect.resolve import parse_hosts, resolve_system
from rabbitmq_preflight.outcomes import Unresolvable

HOSTS = """
127.0.0.1\tlocalhost
127.0.1.1 rabbit1.example.com rabbit1   # Debian installer line
::1 localhost ip6-localhost
198.18.0.12  rabbit2
not-an-ip rabbit9
198.18.0.13
198.18.0.99 RABBIT2
"""


def test_hosts_parser_keeps_file_order_aliases_and_lowercases_names() -> None:
    table = parse_hosts(HOSTS)
    assert table["rabbit1"] == ["127.0.1.1"] and table["rabbit1.example.com"] == ["127.0.1.1"]
    assert table["rabbit2"] == ["198.18.0.12", "198.18.0.99"]
    assert table["localhost"] == ["127.0.0.1", "::1"]
    assert "rabbit9" not in table


@given(st.text(max_size=400))
def test_hosts_parser_never_raises(text: str) -> None:
    table = parse_hosts(text)
    assert all(isinstance(v, list) and v for v in table.values())


def test_localhost_resolves_through_the_system_resolver() -> None:
    assert "127.0.0.1" in asyncio.run(resolve_system("localhost", 2.0))


def test_invalid_name_is_unresolvable() -> None:
    with pytest.raises(Unresolvable, match="does not resolve"):
        asyncio.run(resolve_system("no-such-host.invalid", 2.0))


PROC_NET_TCP = """  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:1538 00000000:0000 0A 00000000:00000000 00:00000000 00000000   107        0 1 1
   1: 0100007F:1111 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1
   2: 0B0012C6:D2A4 0C0012C6:6A48 01 00000000:00000000 00:00000000 00000000     0        0 3 1
garbage line
"""


def test_proc_net_tcp_lists_only_listeners_with_owner_uid() -> None:
    assert parse_proc_net_tcp(PROC_NET_TCP) == [("0.0.0.0", 5432, 107), ("127.0.0.1", 4369, 0)]


@given(st.text(max_size=300))
def test_proc_net_tcp_parser_never_raises(text: str) -> None:
    parse_proc_net_tcp("header\n" + text)
