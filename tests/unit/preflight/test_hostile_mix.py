"""`preflight check` against every hostile peer at once: each node of one inventory points at a different
misbehaving fake (silent, slow drip, garbage, absurd length prefixes, early close, the wrong protocol,
every way a management API can fail, a DNS server that never answers). Each node must get its own typed
outcome and the right finding, the run must end within its deadline, and memory must stay bounded.

The fakes run in a background event loop (`Fleet`) so the code under test runs exactly as the CLI runs
it (`collect` owns its loop); the same fleet serves a real `preflight check` subprocess.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import socket
import struct
import subprocess
import threading
import time
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytest

import rabbitmq_preflight.collect.resolve as resolve
from rabbitmq_preflight.collect.management import MAX_BODY
from rabbitmq_preflight.facts import NodeFacts, View
from rabbitmq_preflight.inventory import ClusterSection, Inventory, ManagementSection, NodeSpec
from rabbitmq_preflight.pipeline import CheckRun, LiveProbe, choose_rules, judge
from rabbitmq_preflight.record import Secret
from rabbitmq_preflight.report import Report
from tests.conftest import PREFLIGHT, ROOT
from tests.fakes import erlang as erl
from tests.fakes import mgmt as mgmt
from tests.fakes.erlang import Handler, fixture, replies, silent
from tests.fakes.mgmt import Answer, FakeApi
from tests.unit.preflight.collect.test_dns_fake import fake_dns, never

Role = Literal["amqp", "epmd", "dist", "management"]
HTTP_400 = b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/html\r\nContent-Length: 0\r\n\r\n"
GARBAGE = bytes(range(256)) * 4
START = fixture("amqp_connection_start_3.10.8.bin")
NAMES = fixture("epmd_names_reply_otp25.bin")
DIST_HELLO = fixture("dist_status_ok_otp25.bin") + fixture("dist_challenge_otp25.bin")
FIFTY_MB = 50 << 20
DRIP_INTERVAL = 1.0  # one byte per second


# --- the misbehaviours ------------------------------------------------------------------------------


def drip(payload: bytes, interval: float = DRIP_INTERVAL) -> Handler:
    """After the request, the right answer, one byte per `interval`: alive, honest, and far too slow."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(4096)
        for i in range(len(payload)):
            writer.write(payload[i : i + 1])
            await writer.drain()
            await asyncio.sleep(interval)

    return handler


def epmd_answers(names: bytes, port2: bytes) -> Handler:
    """An EPMD-shaped peer: `names` to NAMES_REQ, `port2` to PORT_PLEASE2_REQ, then it hangs up."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await erl.read_framed(reader)
        writer.write(names if request[:1] == b"n" else port2)
        await writer.drain()

    return handler


def port2_reply(alive: str, extra_len: int) -> bytes:
    name = alive.encode()
    return b"w\x00" + struct.pack(">HBBHHH", 25672, 77, 0, 6, 5, len(name)) + name + struct.pack(">H", extra_len)


async def endless_json(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """HTTP 200 with no Content-Length and 50 MB of JSON-looking body: only a read limit stops it."""
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n[")
    chunk = b'"' + b"x" * 65533 + b'",'
    for _ in range(FIFTY_MB // len(chunk)):
        writer.write(chunk)
        await writer.drain()


def api(answer: Answer) -> FakeApi:
    return FakeApi({"/api/overview": answer, "/api/nodes": answer})


def overview_drip() -> Handler:
    body = json.dumps({"node": "rabbit@mgmt-drip", "rabbitmq_version": "3.10.8"}).encode()
    head = f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
    return drip(head.encode() + body)


@dataclass(frozen=True)
class Peer:
    """One node of the inventory and the fake behind one of its ports; its other ports are closed."""

    label: str
    role: Role
    fake: Handler | FakeApi
    outcome: str  # the error kind of the probe on that port
    says: str | None  # what the node's PORT004 finding must say; None: the port speaks its protocol

    @property
    def node(self) -> str:
        return f"rabbit@{self.label}"


PEERS = [
    Peer("amqp-silent", "amqp", silent, "timeout", "sent nothing back"),
    Peer("amqp-drip", "amqp", drip(START), "timeout", "sent nothing back"),
    Peer("amqp-garbage", "amqp", replies(GARBAGE), "bad_reply", "not an AMQP method frame"),
    Peer("amqp-2gb", "amqp", replies(struct.pack(">BHI", 1, 0, 0x8000_0000), then_wait=True), "bad_reply",
         "frame size 2147483648 is implausible"),
    Peer("amqp-early-close", "amqp", replies(START[:200]), "closed", "closed after 193 of 491 bytes"),
    Peer("amqp-http", "amqp", replies(HTTP_400), "bad_reply", "an HTTP server answered on the AMQP port"),
    Peer("epmd-silent", "epmd", silent, "timeout", "sent no NAMES reply"),
    Peer("epmd-drip", "epmd", drip(NAMES), "timeout", "sent no NAMES reply"),
    Peer("epmd-garbage", "epmd", replies(GARBAGE), "bad_reply", "not ASCII text"),
    Peer("epmd-ffff", "epmd", epmd_answers(b"\x00\x00\x11\x11" + b"name x at port 1\n" * 4000,
                                           port2_reply("epmd-ffff", 0xFFFF)),
         "bad_reply", "NAMES reply larger than 65536 bytes"),
    Peer("epmd-early-close", "epmd", epmd_answers(NAMES[:3], b"w"), "bad_reply", "reply too short (3 bytes)"),
    Peer("epmd-http", "epmd", replies(HTTP_400), "bad_reply", "unexpected line in an EPMD NAMES reply"),
    Peer("dist-silent", "dist", silent, "timeout", "sent no handshake status"),
    Peer("dist-drip", "dist", drip(DIST_HELLO), "timeout", "sent no handshake status"),
    Peer("dist-garbage", "dist", replies(GARBAGE), "bad_reply", "expected a handshake status"),
    Peer("dist-ffff", "dist", replies(b"\xff\xff" + GARBAGE, then_wait=True), "bad_reply",
         "answered with a 65535-byte message"),
    Peer("dist-early-close", "dist", replies(DIST_HELLO[:12]), "closed", None),  # its status was well-formed
    Peer("dist-http", "dist", replies(HTTP_400), "bad_reply", "an HTTP server answered with a 18516-byte message"),
    Peer("mgmt-401", "management", api(Answer(status=401, body=b'{"error":"not_authorised"}')), "auth_failed", None),
    Peer("mgmt-403", "management", api(Answer(status=403, body=b'{"error":"not_authorised"}')), "forbidden", None),
    Peer("mgmt-404", "management", FakeApi({}), "not_found", "the management plugin is not enabled on this port"),
    Peer("mgmt-500", "management", api(Answer(status=500, body=b'{"reason":"internal_error"}')), "http_error", None),
    Peer("mgmt-html", "management", api(Answer(body=b"<!DOCTYPE html><html>login</html>", content_type="text/html")),
         "bad_reply", "answered an HTML page"),
    Peer("mgmt-truncated", "management", api(Answer(body=b'{"node":"rabbit@mgmt-truncated","rabbitmq_ver')),
         "bad_reply", "the JSON answer ends early"),
    Peer("mgmt-50mb", "management", api(Answer(huge=FIFTY_MB)), "bad_reply",
         f"announces {FIFTY_MB} bytes, above the {MAX_BODY}-byte limit"),
    Peer("mgmt-50mb-unannounced", "management", endless_json, "bad_reply",
         f"answer larger than {MAX_BODY} bytes; stopped reading"),
    Peer("mgmt-silent", "management", api(Answer(silent=True)), "timeout", "no complete answer"),
    Peer("mgmt-drip", "management", overview_drip(), "timeout", "slow-dripping peer"),
]
BY_LABEL = {p.label: p for p in PEERS}


# --- the fleet: every fake in one background loop ---------------------------------------------------


@asynccontextmanager
async def _serve(fake: Handler | FakeApi) -> AsyncIterator[int]:
    # erlang_fakes.serve ends cancelled handlers quietly (FakeApi's own server would log each one)
    async with erl.serve(fake.handle if isinstance(fake, FakeApi) else fake) as port:
        yield port


class Fleet:
    """Serves every peer (and a silent DNS server) from a thread; `ports[label]`, `dns_port`, `closed`."""

    def __init__(self, peers: list[Peer]) -> None:
        self.peers = peers
        self.ports: dict[str, int] = {}
        self.dns_port = 0
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), name="fleet", daemon=True)
        # bound, never listening: a port on which every connection is refused, for each node's other roles
        self._closed = socket.socket()
        self._closed.bind(("127.0.0.1", 0))
        self.closed: int = self._closed.getsockname()[1]

    async def _main(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        async with AsyncExitStack() as stack:
            for peer in self.peers:
                self.ports[peer.label] = await stack.enter_async_context(_serve(peer.fake))
            _, self.dns_port = await stack.enter_async_context(fake_dns(never))
            self._ready.set()
            await self._stop.wait()

    def __enter__(self) -> Fleet:
        self._thread.start()
        assert self._ready.wait(10), "the fakes did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
        self._closed.close()

    def spec(self, peer: Peer) -> dict[str, Any]:
        port = {role: self.closed for role in ("amqp", "epmd", "dist", "management")}
        port[peer.role] = self.ports[peer.label]
        return {"name": peer.node, "address": "127.0.0.1", "amqp_port": port["amqp"], "epmd_port": port["epmd"],
                "management_port": port["management"],
                # EPMD peers must be asked for the port (PORT_PLEASE2); the others name it
                "dist_port": None if peer.role == "epmd" else port["dist"]}


def inventory(fleet: Fleet, cookie: Path, timeout: float, deadline: float) -> Inventory:
    return Inventory(
        cluster=ClusterSection(name="hostile", probe_timeout=timeout, deadline=deadline, cookie_file=cookie),
        management=ManagementSection(user="monitor", password=Secret(mgmt.PASSWORD)),
        nodes=[NodeSpec(**fleet.spec(p)) for p in fleet.peers],
    )


def inventory_toml(fleet: Fleet, cookie: Path, password: Path, timeout: float, deadline: float) -> str:
    lines = ["[cluster]", 'name = "hostile"', f"probe_timeout = {timeout}", f"deadline = {deadline}",
             f'cookie_file = "{cookie}"', "", "[management]", 'user = "monitor"', f'password_file = "{password}"']
    for peer in fleet.peers:
        lines += ["", "[[nodes]]"]
        lines += [f"{k} = {json.dumps(v)}" for k, v in fleet.spec(peer).items() if v is not None]
    return "\n".join(lines) + "\n"


def write_cookie(directory: Path) -> Path:
    """The handshakes need a cookie to present; any will do, the fakes never check it."""
    path = directory / "cookie"
    path.write_bytes(erl.LAB_COOKIE)
    path.chmod(0o400)
    return path


@pytest.fixture
def cookie(tmp_path: Path) -> Path:
    return write_cookie(tmp_path)


def check(fleet: Fleet, cookie: Path, timeout: float, deadline: float) -> CheckRun:
    inv = inventory(fleet, cookie, timeout, deadline)
    return judge(inv, [LiveProbe(timeout=timeout, deadline=deadline)], choose_rules())


def messages(report: Report, node: str, rule: str) -> list[str]:
    return [f.message for f in report.findings if f.node == node and f.rule == rule]


# --- one run against the whole mix, judged by several tests ------------------------------------------

TIMEOUT, DEADLINE = 1.0, 10.0
SLACK_MS = 900  # scheduling on a loaded 2-core machine (a probe ignoring its timeout overruns by seconds)
# After the TCP connect (its own timeout), an answer gets one timeout; a request to the management API
# may take its connect timeout plus its read timeout, both counted in its latency (management.py).
BUDGET_MS = {"amqp": TIMEOUT * 1000, "epmd": TIMEOUT * 1000, "dist": TIMEOUT * 1000, "management": 2 * TIMEOUT * 1000}


def with_silent_dns(fleet: Fleet, mp: pytest.MonkeyPatch) -> None:
    """Every node host gets an /etc/hosts entry (so DNS is asked too), and DNS is the fleet's silent fake."""
    table = {p.label: ["127.0.0.1"] for p in fleet.peers}
    mp.setattr(resolve, "read_hosts_table", lambda: table)
    mp.setattr(resolve, "resolve_dns",
               functools.partial(resolve.resolve_dns, nameservers=[("127.0.0.1", fleet.dns_port)]))


@pytest.fixture(scope="module")
def mix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CheckRun]:
    cookie = write_cookie(tmp_path_factory.mktemp("mix"))
    with Fleet(PEERS) as fleet, pytest.MonkeyPatch.context() as mp:
        with_silent_dns(fleet, mp)
        yield check(fleet, cookie, TIMEOUT, DEADLINE)


def observation(nf: NodeFacts, role: Role) -> Any:
    return {"amqp": nf.amqp, "epmd": nf.epmd, "dist": nf.handshake, "management": nf.management}[role]


def the_view(run: CheckRun) -> View:
    [view] = run.facts.views
    return view


@pytest.mark.parametrize("label", list(BY_LABEL))
def test_each_hostile_peer_gets_its_own_typed_outcome_on_an_open_port(mix: CheckRun, label: str) -> None:
    peer = BY_LABEL[label]
    nf = the_view(mix).nodes[peer.node]
    obs = observation(nf, peer.role)
    assert obs is not None and obs.value is None and obs.error is not None, obs
    assert obs.error.kind == peer.outcome, obs.error
    assert nf.ports[peer.role].status == "open"  # it accepted the connection: never mistaken for a firewall


@pytest.mark.parametrize("label", list(BY_LABEL))
def test_each_port_that_does_not_speak_its_protocol_is_reported_with_what_it_did(mix: CheckRun, label: str) -> None:
    peer = BY_LABEL[label]
    check_ = the_view(mix).nodes[peer.node].ports[peer.role]
    wrong = [m for m in messages(mix.report, peer.node, "PORT004") if f"tcp/{check_.port} " in m]
    if peer.says is None:  # it answered in its protocol (HTTP 401/403/500, a handshake status): not a wrong port
        assert check_.speaks_protocol is True and wrong == []
    else:
        assert check_.speaks_protocol is False
        assert len(wrong) == 1 and peer.says in wrong[0], wrong


def test_rejected_credentials_are_named_as_the_reason_cluster_wide_checks_are_unknown(mix: CheckRun) -> None:
    """Of all the API failures, the 401 is the one an operator can act on: it is the reason given."""
    view = the_view(mix)
    assert view.management is not None and view.management.error is not None
    assert view.management.error.kind == "auth_failed"
    [no_disc] = [f for f in mix.report.findings if f.rule == "NODE001"]
    assert no_disc.outcome == "unknown"
    assert "rabbit@mgmt-401 management API /api/nodes: HTTP 401 — user 'monitor' was rejected" in no_disc.message
    assert view.discovery is not None and view.discovery.error is not None
    assert view.discovery.error.kind == "auth_failed" and len(view.discovery.asked) == len(PEERS)


def test_no_node_passes_a_check_its_hostile_peer_kept_from_being_made(mix: CheckRun) -> None:
    version = {c.node: c.status for c in mix.report.checks if c.rule == "VER001"}
    cookie = {c.node: c.status for c in mix.report.checks if c.rule == "COOKIE001"}
    assert set(version.values()) == {"unknown"} and len(version) == len(PEERS)
    assert set(cookie.values()) == {"unknown"} and len(cookie) == len(PEERS)
    assert mix.report.exit_code("error") == 1


def test_a_silent_dns_server_is_a_timeout_for_every_host(mix: CheckRun) -> None:
    resolution = the_view(mix).resolution
    assert set(resolution) == set(BY_LABEL)
    for host, res in resolution.items():
        assert res.dns is not None and res.dns.error is not None, host
        assert res.dns.error.kind == "timeout" and res.hosts_file == ["127.0.0.1"]


def test_every_probe_costs_at_most_its_timeout_and_the_run_ends_within_the_deadline(mix: CheckRun) -> None:
    view = the_view(mix)
    for peer in PEERS:
        nf = view.nodes[peer.node]
        obs = observation(nf, peer.role)
        connect = nf.ports[peer.role].latency_ms if peer.role != "management" else 0.0  # the TCP connect has its own
        assert obs.latency_ms - connect <= BUDGET_MS[peer.role] + SLACK_MS, (peer.label, obs.latency_ms, connect)
    for res in view.resolution.values():
        assert res.dns is not None and res.dns.latency_ms is not None
        assert res.dns.latency_ms <= TIMEOUT * 1000 + SLACK_MS
    assert not view.origin.deadline_reached
    assert mix.report.duration_ms <= DEADLINE * 1000
    # discovery, then the probes: each phase waits for its slowest peer (a 2-timeout drip) once, not once per
    # node (measured: 4.9 s for 28 hostile nodes; one after the other they would take over 30 s)
    assert mix.report.duration_ms <= 3 * BUDGET_MS["management"] + 1000


# --- memory: the 2 GB prefix, the 0xFFFF lengths and the 50 MB bodies ---------------------------------

LARGE = ["amqp-2gb", "epmd-ffff", "dist-ffff", "mgmt-50mb", "mgmt-50mb-unannounced"]


def test_absurd_lengths_and_huge_bodies_cost_bounded_memory(cookie: Path) -> None:
    """Nothing announced is allocated up front; an unannounced body is read only up to the API limit."""
    with Fleet([BY_LABEL[label] for label in LARGE]) as fleet:
        check(fleet, cookie, timeout=0.2, deadline=0.5)  # imports (rules, httpx, dnspython) are not the peers' cost
        tracemalloc.start()
        try:
            run = check(fleet, cookie, timeout=5.0, deadline=20.0)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    for label in LARGE:
        peer = BY_LABEL[label]
        obs = observation(the_view(run).nodes[peer.node], peer.role)
        assert obs.error is not None and obs.error.kind == "bad_reply", (label, obs)
    # Discovery asks one node /api/nodes and /api/overview at once, so two reads of the unannounced body
    # may overlap: the bound is two read limits (measured: 33 MiB, 65 MiB when they overlap), not 50 MB or 2 GB.
    assert peak < 2 * MAX_BODY + (8 << 20), f"peak {peak >> 20} MiB"


# --- the real CLI, with a deadline shorter than a slow drip needs ----------------------------------------


@dataclass(frozen=True)
class CliRun:
    code: int
    out: str
    err: str
    max_rss: int  # bytes: the peak resident set of this process alone (wait4), not of the test runner


def run_cli(tmp: Path, *args: str) -> CliRun:
    """`preflight …` as a subprocess, reaped with wait4 so its own peak RSS is known."""
    out_path, err_path = tmp / "cli.out", tmp / "cli.err"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        proc = subprocess.Popen([*PREFLIGHT, *args], stdout=out, stderr=err, cwd=ROOT,
                                env={**os.environ, "NO_COLOR": "1"})
        watchdog = threading.Timer(60, proc.kill)
        watchdog.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            watchdog.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return CliRun(proc.returncode, out_path.read_text(), err_path.read_text(), usage.ru_maxrss * 1024)


def test_check_cut_by_its_deadline_says_so_and_reports_every_node(tmp_path: Path, cookie: Path) -> None:
    password = tmp_path / "password"
    password.write_text(mgmt.PASSWORD)
    with Fleet(PEERS) as fleet:
        inv = tmp_path / "inventory.toml"
        inv.write_text(inventory_toml(fleet, cookie, password, timeout=5.0, deadline=1.5))
        facts_path = tmp_path / "facts.json"
        t0 = time.perf_counter()
        cli = run_cli(tmp_path, "check", "-i", str(inv), "--format", "json", "--save-facts", str(facts_path))
        wall = time.perf_counter() - t0
    report = json.loads(cli.out)
    [view] = json.loads(facts_path.read_text())["views"]
    assert cli.code == 1 and cli.err == ""
    assert view["origin"]["deadline_reached"] is True
    # discovery used the whole deadline here; the probes still get a 0.1 s floor (collect/__init__.py)
    assert report["timings"]["collect_ms"] <= 1500 + 100 + SLACK_MS, report["timings"]
    assert wall < 1.5 + 2.0  # interpreter start-up and imports included
    drip = view["nodes"]["rabbit@amqp-drip"]
    assert drip["amqp"] is None  # cut off: not attempted, never a silent default
    unknown = {c["node"] for c in report["checks"] if c["rule"] == "VER001" and c["status"] == "unknown"}
    assert unknown == {p.node for p in PEERS}


def test_check_against_huge_peers_stays_within_the_read_limit_of_memory(tmp_path: Path, cookie: Path) -> None:
    """Peak RSS of `preflight check` against the 2 GB / 0xFFFF / 50 MB peers, minus the same check against
    closed ports: what the hostile peers cost is bounded by the management API's read limit."""
    password = tmp_path / "password"
    password.write_text(mgmt.PASSWORD)
    inv = tmp_path / "inventory.toml"
    with Fleet([BY_LABEL[label] for label in LARGE]) as fleet:
        inv.write_text(inventory_toml(fleet, cookie, password, timeout=5.0, deadline=20.0))
        hostile = run_cli(tmp_path, "check", "-i", str(inv), "--format", "json")
        closed = inv.read_text()
        for label in LARGE:
            closed = closed.replace(f"= {fleet.ports[label]}\n", f"= {fleet.closed}\n")
        inv.write_text(closed)
        baseline = run_cli(tmp_path, "check", "-i", str(inv), "--format", "json")
    findings = json.loads(hostile.out)["findings"]
    assert hostile.code == 1 and {f["node"] for f in findings if f["rule"] == "PORT004"} == {
        BY_LABEL[label].node for label in LARGE}
    assert baseline.code == 1 and not [f for f in json.loads(baseline.out)["findings"] if f["rule"] == "PORT004"]
    cost = hostile.max_rss - baseline.max_rss
    assert cost < 2 * MAX_BODY + (16 << 20), f"{cost >> 20} MiB"  # two overlapping reads at most (see above)
