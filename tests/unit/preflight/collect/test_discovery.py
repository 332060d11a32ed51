"""Discovery against a hostile management API: members a peer names are reported, never trusted.

The attack (issue 12, security 1 and 2): `/api/nodes` lists one extra member and `/api/overview` gives
it a distribution and a management port that are the attacker's. Were preflight to handshake there, the
attacker could relay a real node's challenge through it and get an authenticated Erlang distribution
link (code execution on the cluster); were it to ask that API, it would hand over the password. Here
the attacker's listeners are local fakes that record everything they receive.
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from rabbitmq_preflight.collect import collect
from rabbitmq_preflight.collect.distribution import NOT_LISTED, collect_distribution
from rabbitmq_preflight.collect.management import discover, open_api
from rabbitmq_preflight.collect.options import CollectOptions, NotInInventory
from rabbitmq_preflight.engine import run_rules
from rabbitmq_preflight.facts import Facts, NodeFacts
from rabbitmq_preflight.inventory import (
    ClusterSection,
    Inventory,
    InventoryError,
    ManagementSection,
    NodeSpec,
    parse_inventory,
)
from rabbitmq_preflight.record import Secret
from rabbitmq_preflight.report import Report
from rabbitmq_preflight.rules import rule_by_id
from tests.fakes import erlang
from tests.fakes.erlang import LAB_COOKIE, fake_node, fixture, read_framed
from tests.fakes.mgmt import PASSWORD, Answer, FakeApi, serve

NODE = "rabbit@fake"  # the operator's node (a fake API and a fake Erlang node on 127.0.0.1)
EVIL = "rabbit@127.0.0.1"  # the member the hostile answer adds: its host part is the attacker's address


@dataclass
class Relay:
    """The attacker's distribution port: answers like a node (status ok, a real node's captured
    challenge, as a relay would forward it) and records every connection and message it receives."""

    connections: int = 0
    received: list[bytes] = field(default_factory=list)

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.received.append(await reader.read(4096))
        writer.write(fixture("dist_status_ok_otp25.bin") + fixture("dist_challenge_otp25.bin"))
        await writer.drain()
        self.received.append(await read_framed(reader))  # the challenge reply a relay would forward

    @property
    def challenge_replies(self) -> list[bytes]:
        return [m for m in self.received if m[:1] == b"r"]


def _inventory(tmp_path: Path, api_port: int, dist_port: int) -> Inventory:
    cookie = tmp_path / "cookie"
    cookie.write_bytes(LAB_COOKIE + b"\n")
    cookie.chmod(0o400)
    node = NodeSpec(name=NODE, address="127.0.0.1", management_port=api_port, dist_port=dist_port)
    return Inventory(nodes=[node], cluster=ClusterSection(cookie_file=cookie),
                     management=ManagementSection(user="monitor", password=Secret(PASSWORD)))


def _hostile_routes(evil_dist: int, evil_http: int) -> dict[str, Any]:
    overview = {"node": NODE, "rabbitmq_version": "3.13.7", "listeners": [
        {"node": NODE, "protocol": "http", "port": 15672},
        {"node": EVIL, "protocol": "clustering", "port": evil_dist},
        {"node": EVIL, "protocol": "http", "port": evil_http}]}
    nodes = [{"name": NODE, "type": "disc", "running": True}, {"name": EVIL, "type": "disc", "running": True}]
    return {"/api/nodes": Answer.json(nodes), "/api/overview": Answer.json(overview)}


@dataclass
class Run:
    facts: Facts
    relay: Relay
    attacker_api: FakeApi
    honest: list[bytes]


def _collect_against_hostile_api(tmp_path: Path) -> Run:
    async def run() -> Run:
        relay, attacker = Relay(), FakeApi({"/api/overview": Answer.json({"node": EVIL})})
        honest: list[bytes] = []

        async def honest_node(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            honest.append(b"connected")
            await fake_node()(reader, writer)

        async with erlang.serve(relay) as evil_dist, serve(attacker), erlang.serve(honest_node) as good_dist, \
                serve(FakeApi(_hostile_routes(evil_dist, attacker.port))) as api:
            inv = _inventory(tmp_path, api.port, good_dist)
            opts = CollectOptions.of(inv, timeout=1.0, deadline=5.0)
            facts = await asyncio.to_thread(collect, inv, opts)
        return Run(facts, relay, attacker, honest)

    return asyncio.run(run())


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return _collect_against_hostile_api(tmp_path_factory.mktemp("hostile"))


def test_the_attackers_distribution_port_never_gets_a_handshake(hostile: Run) -> None:
    assert hostile.relay.challenge_replies == []  # no digest of a relayed challenge: no link to steal
    assert not any(m[:1] in (b"N", b"n") for m in hostile.relay.received)  # not even our send_name
    assert hostile.relay.connections == 0  # its port came from the peer's answer: never dialled at all


def test_the_attackers_management_port_never_gets_the_password(hostile: Run) -> None:
    assert [auth for _, _, auth in hostile.attacker_api.requests if auth] == []
    assert hostile.attacker_api.requests == []  # only a bare TCP connect: no HTTP request at all


def test_the_inventory_node_is_still_handshaken_at_its_inventory_address(hostile: Run) -> None:
    [view] = hostile.facts.views
    shake = view.nodes[NODE].handshake
    assert shake is not None and shake.value is not None and shake.value.verdict == "accepted"
    assert hostile.honest and set(hostile.honest) == {b"connected"}  # each one a handshake that was accepted


def test_the_discovered_member_is_reported_as_discovered_not_listed(hostile: Run) -> None:
    [view] = hostile.facts.views
    assert view.discovery is not None and view.discovery.added == [EVIL]
    spec = hostile.facts.inventory.node(EVIL)
    assert spec is not None and spec.discovered and spec.dist_port is None
    assert hostile.facts.inventory.node(NODE) is not None and not hostile.facts.inventory.node(NODE).discovered  # type: ignore[union-attr]
    evil = view.nodes[EVIL]
    assert evil.handshake is not None and evil.handshake.error is not None
    assert (evil.handshake.error.kind, evil.handshake.error.detail) == ("skipped", NOT_LISTED)
    assert evil.management is not None and evil.management.error is not None
    assert evil.management.error.kind == "skipped"
    assert "discovered, not in the inventory" in evil.management.error.detail
    assert evil.ports["management"].status == "open"  # the bare connect: reported, no credentials


def _report(facts: Facts, *ids: str) -> Report:
    return run_rules(facts, [rule_by_id(i) for i in ids])


def test_rules_never_pass_the_discovered_members_cookie_and_say_why(hostile: Run) -> None:
    report = _report(hostile.facts, "COOKIE001", "RUN004", "RUN003")
    status = {(c.rule, c.node): (c.status, c.reason) for c in report.checks}
    assert status[("COOKIE001", EVIL)] == ("skipped", "discovered, not in the inventory: list it to check its cookie")
    assert status[("COOKIE001", NODE)][0] == "pass"
    assert ("RUN003", EVIL) not in status  # its API was not asked: nothing to blame it for
    [finding] = [f for f in report.findings if f.rule == "RUN004"]
    assert finding.node == EVIL and finding.severity == "warning"
    assert "does not list" in finding.message and "cookie was not checked" in finding.message
    assert "no credentials were sent" in finding.message and NODE in finding.message
    assert PASSWORD not in report.to_json()


def test_discovery_without_extra_members_passes_and_without_credentials_is_skipped() -> None:
    report = _report(_facts_with_discovery(added=[]), "RUN004")
    assert [(c.status, c.node) for c in report.checks] == [("pass", None)]
    report = _report(_facts_with_discovery(added=None), "RUN004")
    assert [c.status for c in report.checks] == ["skipped"]


def _facts_with_discovery(added: list[str] | None) -> Facts:
    import datetime as dt

    from rabbitmq_preflight.facts import Discovery, InventorySummary, Origin, View

    inv = Inventory(nodes=[NodeSpec(name=NODE)])
    view = View(origin=Origin(hostname="checker", collected_at=dt.datetime.now(dt.UTC)))
    if added is not None:
        view.discovery = Discovery(asked=[NODE], answered_by=NODE, members=[NODE, *added], added=added)
    return Facts(tool_version="t", inventory=InventorySummary.of(inv), views=[view])


# --- the guards themselves: whatever presents a secret asks the operator's inventory first ------


def test_open_api_refuses_a_discovered_member_and_an_address_the_inventory_does_not_give() -> None:
    async def run() -> list[str]:
        attacker = FakeApi({"/api/overview": Answer.json({})})
        refused = []
        async with serve(attacker):
            inv = Inventory(nodes=[NodeSpec(name=NODE, address="127.0.0.1", management_port=1)],
                            management=ManagementSection(user="monitor", password=Secret(PASSWORD)))
            opts = CollectOptions.of(inv, timeout=1.0)
            for spec in (NodeSpec(name=EVIL, management_port=attacker.port, discovered=True),
                         NodeSpec(name=NODE, address="127.0.0.1", management_port=attacker.port),
                         NodeSpec(name=NODE, address="127.0.0.1", management_port=1, discovered=True)):
                try:
                    async with open_api(spec, opts) as api:
                        await api.get_json("/api/overview")
                except NotInInventory:
                    refused.append(spec.name)
        assert attacker.requests == []
        return refused

    assert asyncio.run(run()) == [EVIL, NODE, NODE]


def test_a_discovered_spec_gets_epmd_and_a_bare_connect_never_the_handshake(tmp_path: Path) -> None:
    """Even if its EPMD names the port, a discovered member's distribution port only gets a connect."""
    async def run() -> tuple[NodeFacts, Relay]:
        relay = Relay()

        async def epmd(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            request = await read_framed(reader)
            if request == b"n":
                writer.write(struct.pack(">I", 4369) + f"name rabbit at port {dist}\n".encode())
            else:
                writer.write(b"w\x00" + struct.pack(">HBBHHH", dist, 77, 0, 6, 5, 6) + b"rabbit\x00\x00")
            await writer.drain()

        async with erlang.serve(relay) as dist, erlang.serve(epmd) as epmd_port:
            spec = NodeSpec(name=EVIL, epmd_port=epmd_port, discovered=True)
            inv = _inventory(tmp_path, 1, 1)
            inv = inv.model_copy(update={"nodes": [*inv.nodes, spec]})
            facts = NodeFacts(name=EVIL, target=spec.target)
            await collect_distribution(spec, facts, CollectOptions.of(inv, timeout=1.0))
            await asyncio.sleep(0.05)
        return facts, relay

    facts, relay = asyncio.run(run())
    assert facts.ports["dist"].status == "open" and facts.dist_registration is not None
    assert facts.handshake is not None and facts.handshake.error is not None
    assert facts.handshake.error.detail == NOT_LISTED
    assert relay.connections <= 1 and relay.received in ([], [b""]) and relay.challenge_replies == []


def test_discovery_marks_members_discovered_and_takes_no_distribution_port_from_the_answer() -> None:
    async def run() -> Inventory:
        async with serve(FakeApi(_hostile_routes(25999, 15999))) as api:
            inv = Inventory(nodes=[NodeSpec(name=NODE, address="127.0.0.1", management_port=api.port)],
                            management=ManagementSection(user="monitor", password=Secret(PASSWORD)))
            grown, _ = await discover(inv, CollectOptions.of(inv, timeout=1.0))
            return grown

    grown = asyncio.run(run())
    evil = grown.node(EVIL)
    assert evil is not None and evil.discovered and evil.dist_port is None and evil.management_port == 15999
    assert grown.listed(evil) is None and grown.node(NODE) is not None and grown.listed(grown.nodes[0]) is not None


def test_an_inventory_file_cannot_mark_a_node_discovered() -> None:
    with pytest.raises(InventoryError) as err:
        parse_inventory({"nodes": [{"name": NODE, "discovered": False}]}, "inv.toml")
    assert err.value.problems == [
        "inv.toml: nodes[0].discovered: unknown key (set by discovery, never by the inventory: a node listed "
        "here is a node the operator vouches for)"]
