"""The fault matrix (issue 8): every case is a real fault injected into the lab and the exact finding it
must produce — rule id, node, and the words of the message or fix an operator acts on.

Cases that share one fault share one injection: the stop of rabbit2 also yields the unsynchronised
mirror when the node comes back; the two /etc/hosts faults sit on different hosts and are healed
together. Objects created through the management API live in this suite's own vhosts, deleted in
`finally`. Each case records its row (fault, expected, found, seconds) before asserting, and
`conftest.py` prints the table at the end of the session.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from rabbitmq_preflight.collect.amqp import decode_reply
from tests.conftest import Lab, run_preflight
from tests.integration.fault_cases import (
    CAPTURE,
    FakeAmqpNode,
    Report,
    api_client,
    delete_vhost,
    error_nodes,
    errors,
    findings,
    found_text,
    poll,
    publish,
    put_policy,
    put_queue,
    put_vhost,
    queue_rows,
    record,
    statuses,
    with_version,
)

pytestmark = pytest.mark.lab

HOST_INVENTORY = "/etc/rabbitmq/preflight.toml"  # the lab's per-host inventory, inside each host
NODES = ("rabbit@rabbit1", "rabbit@rabbit2", "rabbit@rabbit3")
MIRRORED_VHOST, HA_VHOST, BARE_VHOST = "preflight-fm-mirrored", "preflight-fm-shadowed", "preflight-fm-bare"


@dataclass(frozen=True)
class Judged:
    """One preflight verdict on an injected fault, with how long the fault and the check took."""

    report: Report
    check_s: float
    fault_s: float


def _timed_check(run: Callable[[], Any]) -> tuple[Report, float]:
    t0 = time.perf_counter()
    result = run()
    elapsed = time.perf_counter() - t0
    assert result.returncode in (0, 1), (result.returncode, result.stdout[-2000:], result.stderr[-2000:])
    report: Report = json.loads(result.stdout)
    return report, elapsed


def check(lab: Lab, *args: str, inventory: Path | None = None) -> tuple[Report, float]:
    """`preflight check` from the root namespace (reaches every host by address)."""
    return _timed_check(lambda: run_preflight(
        "check", "--inventory", str(inventory or lab.inventory), "--format", "json", *args))


def check_on(lab: Lab, host: str, *args: str) -> tuple[Report, float]:
    """`preflight check` run on a lab host: its /etc/hosts, its cookie."""
    return _timed_check(lambda: lab.preflight_on(host, "check", "--inventory", HOST_INVENTORY, "--format", "json",
                                                 *args))


def inject(lab: Lab, *fault: str) -> float:
    """Inject one more fault inside an open `lab.fault(...)` block (whose heal undoes it too)."""
    t0 = time.perf_counter()
    lab.sh("fault", *fault)
    return time.perf_counter() - t0


# --- 1. healthy -----------------------------------------------------------------------------------------


def test_healthy_cluster_has_no_error_level_finding(lab: Lab) -> None:
    report, check_s = check(lab)
    kinds = Counter(f"{f['rule']} {f['severity']}" for f in report["findings"])
    summary = report["summary"]
    record("none (healthy cluster)", "0 error/critical; only HOST001 warnings (root ns)",
           f"{summary['error']} error, {summary['critical']} critical; "
           + (", ".join(f"{k} x{n}" for k, n in sorted(kinds.items())) or "no findings"), None, check_s)
    assert not errors(report), errors(report)
    assert set(kinds) <= {"HOST001 warning"}
    # from the root namespace the lab's names do not resolve: one warning per node, nothing else
    assert {f["node"] for f in findings(report, "HOST001")} <= set(NODES)
    assert summary["checks"]["unknown"] == 0
    assert statuses(report, "VER001") == {n: "pass" for n in NODES}
    assert statuses(report, "COOKIE001") == {n: "pass" for n in NODES}


# --- 2 and 11. a stopped node; its mirror restarted unsynchronised --------------------------------------


def _mirror_state(client: httpx.Client) -> dict[str, Any] | None:
    rows = queue_rows(client, MIRRORED_VHOST)
    return rows[0] if len(rows) == 1 and "slave_nodes" in rows[0] else None


def _all_mirrors_synchronised(client: httpx.Client, messages: int) -> dict[str, Any] | None:
    row = _mirror_state(client)
    peers = {"rabbit@rabbit2", "rabbit@rabbit3"}
    if row and set(row["slave_nodes"]) == peers and set(row["synchronised_slave_nodes"]) == peers \
            and row.get("messages") == messages:
        return row
    return None


def _rabbit2_back_unsynchronised(client: httpx.Client) -> dict[str, Any] | None:
    row = _mirror_state(client)
    if row and "rabbit@rabbit2" in row["slave_nodes"] and "rabbit@rabbit2" not in row["synchronised_slave_nodes"]:
        return row
    return None


@dataclass(frozen=True)
class StopCycle:
    stopped: Judged  # rabbit2 down
    restarted: Judged  # rabbit2 back, its mirror unsynchronised
    queue: dict[str, Any]  # RabbitMQ's own view of the queue just before the second check


@pytest.fixture(scope="module")
def stop_and_restart_rabbit2(lab: Lab) -> StopCycle:
    """A queue mirrored on every node (ha-sync-mode manual) holding 20 messages; rabbit2 stopped (judged),
    then started again: its new mirror holds none of the 20 messages until someone syncs it (judged)."""
    with api_client() as client:
        put_vhost(client, MIRRORED_VHOST)
        try:
            t0 = time.perf_counter()
            put_policy(client, MIRRORED_VHOST, "ha-manual", ".*", {"ha-mode": "all", "ha-sync-mode": "manual"}, 1)
            put_queue(client, MIRRORED_VHOST, "jobs.1", node="rabbit@rabbit1")
            poll("mirrors of jobs.1 on rabbit2 and rabbit3", lambda: _all_mirrors_synchronised(client, 0))
            publish(client, MIRRORED_VHOST, "jobs.1", 20)
            poll("20 messages on a synchronised queue", lambda: _all_mirrors_synchronised(client, 20))
            setup_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            with lab.fault("stop", "rabbit2"):
                stopped = Judged(*check(lab), fault_s=time.perf_counter() - t0)
                t0 = time.perf_counter()
                inject(lab, "start", "rabbit2")
                unsynced_row = poll("rabbit2's mirror back and unsynchronised",
                                    lambda: _rabbit2_back_unsynchronised(client), deadline_s=90)
                restart_s = time.perf_counter() - t0
                restarted = Judged(*check(lab), fault_s=setup_s + restart_s)
        finally:
            delete_vhost(client, MIRRORED_VHOST)
    return StopCycle(stopped, restarted, unsynced_row)


def test_stopped_node_is_refused_on_amqp_and_its_version_is_unknown(stop_and_restart_rabbit2: StopCycle) -> None:
    judged = stop_and_restart_rabbit2.stopped
    report = judged.report
    record("stop rabbit2", "PORT001 rabbit@rabbit2 (amqp) error; VER001 rabbit@rabbit2 unknown",
           found_text(report, ("PORT001", "VER001")), judged.fault_s, judged.check_s)
    [amqp] = [f for f in findings(report, "PORT001", "rabbit@rabbit2") if f["evidence"]["role"] == "amqp"]
    assert amqp["severity"] == "error"
    assert "rabbit@rabbit2: tcp/5672 (AMQP) on 198.18.0.12 refused the connection" in amqp["message"]
    assert "systemctl start rabbitmq-server" in amqp["remediation"]
    assert statuses(report, "VER001") == {"rabbit@rabbit1": "pass", "rabbit@rabbit2": "unknown",
                                          "rabbit@rabbit3": "pass"}
    [unknown] = findings(report, "VER001", "rabbit@rabbit2")
    assert unknown["outcome"] == "unknown" and "no RabbitMQ version observed" in unknown["message"]
    assert not [f for f in errors(report) if f["node"] in ("rabbit@rabbit1", "rabbit@rabbit3")]


def test_restarted_mirror_is_reported_unsynchronised_with_the_sync_command(
        stop_and_restart_rabbit2: StopCycle) -> None:
    judged = stop_and_restart_rabbit2.restarted
    report = judged.report
    record("stop + start rabbit2 (mirror, manual sync)", f"HA005 vhost:{MIRRORED_VHOST}:unsynchronised, 1 queue",
           found_text(report, ("HA005",)), judged.fault_s, judged.check_s)
    row = stop_and_restart_rabbit2.queue
    assert row["messages"] == 20 and "rabbit@rabbit2" not in row["synchronised_slave_nodes"]
    [unsynced] = findings(report, "HA005")
    assert unsynced["node"] is None and unsynced["subject"] == f"vhost:{MIRRORED_VHOST}:unsynchronised"
    assert unsynced["evidence"]["queues"] == 1 and unsynced["evidence"]["examples"] == ["jobs.1"]
    assert f"vhost '{MIRRORED_VHOST}': 1 mirrored queue has unsynchronised mirrors" in unsynced["message"]
    assert f"rabbitmqctl sync_queue -p {MIRRORED_VHOST} jobs.1" in unsynced["remediation"]
    assert not errors(report), errors(report)  # the node is back: nothing else is wrong


# --- 3, 4. firewalled ports -----------------------------------------------------------------------------


def test_dropped_distribution_port_is_filtered_on_that_node(lab: Lab) -> None:
    t0 = time.perf_counter()
    with lab.fault("drop-port", "rabbit3", "25672"):
        fault_s = time.perf_counter() - t0
        report, check_s = check(lab)
    record("drop-port rabbit3 25672", "PORT002 rabbit@rabbit3 (dist) error",
           found_text(report, ("PORT002",)), fault_s, check_s)
    [dist] = findings(report, "PORT002")
    assert dist["node"] == "rabbit@rabbit3" and dist["severity"] == "error"
    assert dist["evidence"]["port"] == 25672 and dist["evidence"]["role"] == "dist"
    assert "filtered by a firewall" in dist["message"] and "--dport 25672" in dist["remediation"]
    assert report["duration_ms"] < 15_000  # the inventory's deadline holds
    assert error_nodes(report) == {"rabbit@rabbit3"}, errors(report)


def test_dropped_epmd_port_is_filtered_and_the_cookie_verdict_unknown(lab: Lab) -> None:
    t0 = time.perf_counter()
    with lab.fault("drop-port", "rabbit3", "4369"):
        fault_s = time.perf_counter() - t0
        report, check_s = check(lab)
    record("drop-port rabbit3 4369", "PORT002 rabbit@rabbit3 (epmd) error; COOKIE001 rabbit@rabbit3 unknown",
           found_text(report, ("PORT002", "COOKIE001")), fault_s, check_s)
    [epmd] = findings(report, "PORT002")
    assert epmd["node"] == "rabbit@rabbit3" and epmd["evidence"]["role"] == "epmd"
    assert "tcp/4369" in epmd["message"] and "--dport 4369" in epmd["remediation"]
    assert statuses(report, "COOKIE001") == {"rabbit@rabbit1": "pass", "rabbit@rabbit2": "pass",
                                             "rabbit@rabbit3": "unknown"}
    [unknown] = findings(report, "COOKIE001")
    assert "distribution port of rabbit@rabbit3 is unknown" in unknown["message"]
    assert error_nodes(report) == {"rabbit@rabbit3"}, errors(report)


# --- 5. another cookie ----------------------------------------------------------------------------------


def test_node_with_another_cookie_is_rejected_by_name(lab: Lab) -> None:
    t0 = time.perf_counter()
    with lab.fault("cookie", "rabbit3"):
        fault_s = time.perf_counter() - t0
        report, check_s = check(lab)
    record("cookie rabbit3", "COOKIE001 rabbit@rabbit3 error (rejected)",
           found_text(report, ("COOKIE001",)), fault_s, check_s)
    [rejected] = findings(report, "COOKIE001")
    assert rejected["node"] == "rabbit@rabbit3" and rejected["severity"] == "error"
    assert "rabbit@rabbit3 rejected the Erlang cookie" in rejected["message"]
    assert "rabbit@rabbit1, rabbit@rabbit2 accepted" in rejected["message"]
    assert "scp rabbit1:/var/lib/rabbitmq/.erlang.cookie rabbit3:/var/lib/rabbitmq/.erlang.cookie" \
        in rejected["remediation"]
    assert error_nodes(report) == {"rabbit@rabbit3"}, errors(report)


# --- 6, 7. /etc/hosts -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hosts_faults(lab: Lab) -> dict[str, Judged]:
    """rabbit1 removed from rabbit3's /etc/hosts and rabbit3 mapped to an unused address on rabbit2:
    independent files, one heal; each judged on the host whose file is wrong."""
    t0 = time.perf_counter()
    with lab.fault("hosts", "rabbit3", "rabbit1"):
        missing_s = time.perf_counter() - t0
        wrong_s = inject(lab, "hosts", "rabbit2", "rabbit3", "--wrong=198.18.0.99")
        missing = Judged(*check_on(lab, "rabbit3"), fault_s=missing_s)
        wrong = Judged(*check_on(lab, "rabbit2"), fault_s=wrong_s)
    return {"missing": missing, "wrong": wrong}


def test_peer_missing_from_a_hosts_file_is_reported_with_the_line_to_add(hosts_faults: dict[str, Judged]) -> None:
    judged = hosts_faults["missing"]
    report = judged.report
    record("hosts rabbit3 rabbit1 (checked on rabbit3)", "HOST001 rabbit@rabbit1 error",
           found_text(report, ("HOST001",)), judged.fault_s, judged.check_s)
    [finding] = findings(report, "HOST001")
    assert finding["node"] == "rabbit@rabbit1" and finding["severity"] == "error"
    assert "rabbit1 does not resolve on rabbit@rabbit3" in finding["message"]
    assert "`198.18.0.11 rabbit1`" in finding["remediation"]
    assert report["origins"] == ["rabbit3"]
    assert errors(report) == [finding], errors(report)


def test_hosts_entry_with_a_wrong_address_is_reported_with_the_right_one(hosts_faults: dict[str, Judged]) -> None:
    judged = hosts_faults["wrong"]
    report = judged.report
    record("hosts rabbit2 rabbit3 --wrong=198.18.0.99 (on rabbit2)", "HOST003 rabbit@rabbit3 error",
           found_text(report, ("HOST001", "HOST003")), judged.fault_s, judged.check_s)
    [finding] = findings(report, "HOST003")
    assert finding["node"] == "rabbit@rabbit3" and finding["severity"] == "error"
    assert "resolves to 198.18.0.99" in finding["message"] and "node is at 198.18.0.13" in finding["message"]
    assert "`198.18.0.13 rabbit3`" in finding["remediation"]
    assert not findings(report, "HOST001")  # rabbit2's own file still names every node
    assert report["origins"] == ["rabbit2"]
    assert errors(report) == [finding], errors(report)


# --- 8. a RAM node --------------------------------------------------------------------------------------


def test_ram_node_is_reported_and_differs_from_the_inventory(lab: Lab) -> None:
    t0 = time.perf_counter()
    with lab.fault("ram", "rabbit3"):
        fault_s = time.perf_counter() - t0
        report, check_s = check(lab)
    record("ram rabbit3", "NODE003 rabbit@rabbit3 info (3.10); NODE004 rabbit@rabbit3 error",
           found_text(report, ("NODE001", "NODE002", "NODE003", "NODE004")), fault_s, check_s)
    [ram] = findings(report, "NODE003")
    assert ram["node"] == "rabbit@rabbit3" and ram["severity"] == "info"  # 3.10: discouraged, not deprecated
    assert "rabbit@rabbit3 is a RAM node" in ram["message"]
    assert "change_cluster_node_type disc" in ram["remediation"]
    [mismatch] = findings(report, "NODE004")
    assert mismatch["node"] == "rabbit@rabbit3" and mismatch["severity"] == "error"
    assert "rabbit@rabbit3 is a ram node; the inventory expects disc" in mismatch["message"]
    assert not findings(report, "NODE002")  # two disc nodes remain
    assert errors(report) == [mismatch], errors(report)


# --- 9, 10. unmirrored queues; a shadowed ha-all --------------------------------------------------------

BARE_QUEUES = [f"plain.{i}" for i in range(1, 7)]  # no policy at all: 6 unmirrored
SHADOWED_QUEUES = [f"orders.{i}" for i in range(1, 5)]  # ttl-orders (10) beats ha-all (1): 4 unmirrored
MIRRORED_QUEUES = ["billing.1", "billing.2"]  # ha-all applies: counted nowhere


@pytest.fixture(scope="module")
def policy_faults(lab: Lab) -> Judged:
    with api_client() as client:
        for vhost in (BARE_VHOST, HA_VHOST):
            put_vhost(client, vhost)
        try:
            t0 = time.perf_counter()
            put_policy(client, HA_VHOST, "ha-all", ".*", {"ha-mode": "all", "ha-sync-mode": "automatic"}, 1)
            put_policy(client, HA_VHOST, "ttl-orders", r"^orders\.", {"message-ttl": 60000}, 10)
            for name in BARE_QUEUES:
                put_queue(client, BARE_VHOST, name)
            for name in SHADOWED_QUEUES + MIRRORED_QUEUES:
                put_queue(client, HA_VHOST, name)
            fault_s = time.perf_counter() - t0
            return Judged(*check(lab), fault_s=fault_s)
        finally:
            for vhost in (BARE_VHOST, HA_VHOST):
                delete_vhost(client, vhost)


def test_unmirrored_classic_queues_are_counted_exactly(policy_faults: Judged) -> None:
    report = policy_faults.report
    record(f"{len(BARE_QUEUES)} classic queues, no ha policy (vhost {BARE_VHOST})",
           f"HA001 vhost:{BARE_VHOST} error, {len(BARE_QUEUES)} queues",
           found_text(report, ("HA001",)),
           policy_faults.fault_s, policy_faults.check_s)
    [bare] = findings(report, "HA001")
    assert bare["node"] is None and bare["subject"] == f"vhost:{BARE_VHOST}" and bare["severity"] == "error"
    assert bare["evidence"]["unmirrored"] == len(BARE_QUEUES)
    assert f"vhost '{BARE_VHOST}': 6 of 6 classic queues are not mirrored" in bare["message"]
    assert f"rabbitmqctl set_policy -p {BARE_VHOST} ha-plain '^plain\\.'" in bare["remediation"]


def test_shadowed_ha_all_names_both_policies_and_the_exact_count(policy_faults: Judged) -> None:
    report = policy_faults.report
    record(f"ttl-orders (prio 10) shadows ha-all (prio 1) on {len(SHADOWED_QUEUES)} queues",
           f"HA002 vhost:{HA_VHOST} error, ttl-orders > ha-all, {len(SHADOWED_QUEUES)} queues",
           found_text(report, ("HA002",)),
           policy_faults.fault_s, policy_faults.check_s)
    [shadow] = findings(report, "HA002")
    assert shadow["node"] is None and shadow["severity"] == "error"
    assert shadow["evidence"]["policy"] == "ttl-orders" and shadow["evidence"]["shadowed_policy"] == "ha-all"
    assert shadow["evidence"]["queues"] == len(SHADOWED_QUEUES)
    assert ("policy 'ttl-orders' (priority 10) shadows mirroring policy 'ha-all' (priority 1) on 4 classic "
            "queues, which are therefore NOT mirrored") in shadow["message"]
    assert f"rabbitmqctl set_policy -p {HA_VHOST} ttl-orders" in shadow["remediation"]
    assert '"ha-mode":"all"' in shadow["remediation"] and '"message-ttl":60000' in shadow["remediation"]
    assert not [f for f in findings(report, "HA001") if HA_VHOST in f["subject"]]  # shadowed ≠ double-counted
    assert {(f["rule"], f["subject"]) for f in errors(report)} == {
        ("HA001", f"vhost:{BARE_VHOST}"), ("HA002", f"vhost:{HA_VHOST}:ttl-orders>ha-all")}


# --- 12. a node on another version ----------------------------------------------------------------------

FAKE_NODE, FAKE_VERSION = "rabbit@fakenode", "3.12.14"  # one byte longer: both lengths must move


def test_rewritten_capture_differs_only_in_its_version() -> None:
    capture = CAPTURE.read_bytes()
    original, rewritten = decode_reply(capture), decode_reply(with_version(capture, FAKE_VERSION))
    assert original.version == "3.10.8" and rewritten.version == FAKE_VERSION
    assert rewritten.model_copy(update={"version": "3.10.8"}) == original
    assert len(with_version(capture, FAKE_VERSION)) == len(capture) + 1


async def _judge_with_fake_node(lab: Lab, tmp_path: Path) -> tuple[Report, float, int]:
    async with FakeAmqpNode(with_version(CAPTURE.read_bytes(), FAKE_VERSION)) as fake:
        inventory = tmp_path / "inventory.toml"
        inventory.write_text(lab.inventory.read_text() + f'\n[[nodes]]\nname = "{FAKE_NODE}"\n'
                             f'address = "127.0.0.1"\namqp_port = {fake.port}\ntype = "disc"\n')
        report, check_s = await asyncio.to_thread(check, lab, "--select", "VER001", inventory=inventory)
        return report, check_s, fake.served


def test_fake_node_advertising_another_series_is_a_version_error(lab: Lab, tmp_path: Path) -> None:
    report, check_s, served = asyncio.run(_judge_with_fake_node(lab, tmp_path))
    record(f"fake 4th node advertising {FAKE_VERSION} (real 3.10.8 capture, rewritten)",
           f"VER001 {FAKE_NODE} error", found_text(report, ("VER001",)), None, check_s)
    assert served >= 1  # the probe really read the fake's Connection.Start
    [mismatch] = findings(report, "VER001")
    assert mismatch["node"] == FAKE_NODE and mismatch["severity"] == "error"
    assert (f"{FAKE_NODE} runs RabbitMQ {FAKE_VERSION} while rabbit@rabbit1 and others run 3.10.8: series 3.12 "
            "and 3.10 cannot be clustered") in mismatch["message"]
    assert mismatch["evidence"]["upgrade_path"] == ["3.10", "3.11", "3.12"]
    assert "(3.10 → 3.11 → 3.12)" in mismatch["remediation"]
    assert statuses(report, "VER001") == {**{n: "pass" for n in NODES}, FAKE_NODE: "fail"}
