"""Health rules and `preflight plan` against real faults on the lab (RabbitMQ 3.10.8).

Each test injects one fault with RabbitMQ's own tools — a memory watermark far below use, a disk limit
above the free space, `rabbitmq-upgrade drain` — waits until the management API reports it (a condition
with a deadline, not a sleep), asserts the exact finding, and restores the node. A fresh 3.10.8 lab has
every feature flag enabled (all nine are stable and enabled at formation, none can be disabled), so the
"flag left disabled" case is covered from facts in tests/unit/preflight/test_upgrade.py.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.conftest import Lab, run_preflight

pytestmark = pytest.mark.lab

API = "http://198.18.0.11:15672"


@pytest.fixture
def api() -> Iterator[httpx.Client]:
    with httpx.Client(base_url=API, auth=("guest", "guest"), timeout=5.0) as client:
        yield client


def node_row(client: httpx.Client, name: str) -> dict[str, Any]:
    """The node's /api/nodes row; {} while the API cannot answer (it waits on a peer that went silent)."""
    try:
        rows = client.get("/api/nodes").json()
    except (httpx.HTTPError, ValueError):  # a timeout, or a 500 with no JSON while a peer is unreachable
        return {}
    if not isinstance(rows, list):
        return {}
    return next((r for r in rows if r["name"] == name), {})


def wait_until(what: str, check: Callable[[], bool], deadline: float = 90.0) -> None:
    end = time.monotonic() + deadline
    while not check():
        if time.monotonic() > end:
            raise AssertionError(f"the lab never showed {what} within {deadline:g} s")
        time.sleep(0.5)


def health(lab: Lab) -> list[dict[str, Any]]:
    out = run_preflight("check", "-i", str(lab.inventory), "--select", "health", "-f", "json")
    assert out.returncode in (0, 1), out.stderr
    findings: list[dict[str, Any]] = out.json()["findings"]
    return findings


def test_a_memory_alarm_on_one_node_is_reported_with_use_and_watermark(lab: Lab, api: httpx.Client) -> None:
    try:
        lab.sh("ctl", "rabbit2", "set_vm_memory_high_watermark", "0.0001")
        wait_until("rabbit2's memory alarm", lambda: node_row(api, "rabbit@rabbit2").get("mem_alarm") is True)
        found = [f for f in health(lab) if f["rule"] == "HEALTH002"]
        assert [(f["node"], f["severity"]) for f in found] == [("rabbit@rabbit2", "error")]
        row = found[0]
        assert row["message"].startswith("rabbit@rabbit2 has a memory alarm in effect: using ")
        assert row["message"].endswith("high watermark — publishers on every node are blocked")
        assert row["evidence"]["mem_used"] > row["evidence"]["mem_limit"] > 0
    finally:
        lab.sh("ctl", "rabbit2", "set_vm_memory_high_watermark", "0.4")
        wait_until("the memory alarm clearing", lambda: node_row(api, "rabbit@rabbit2").get("mem_alarm") is False)
    assert [f for f in health(lab) if f["rule"] == "HEALTH002"] == []


def test_a_disk_alarm_is_reported_with_free_space_and_the_limit(lab: Lab, api: httpx.Client) -> None:
    try:
        lab.sh("ctl", "rabbit3", "set_disk_free_limit", "100000GB")
        wait_until("rabbit3's disk alarm", lambda: node_row(api, "rabbit@rabbit3").get("disk_free_alarm") is True)
        found = [f for f in health(lab) if f["rule"] == "HEALTH003"]
        assert [(f["node"], f["severity"]) for f in found] == [("rabbit@rabbit3", "error")]
        assert "free, below its disk_free_limit of " in found[0]["message"]
        assert found[0]["evidence"]["disk_free_limit"] == 100_000 * 10**9
    finally:
        lab.sh("ctl", "rabbit3", "set_disk_free_limit", "50000000")
        wait_until("the disk alarm clearing", lambda: node_row(api, "rabbit@rabbit3").get("disk_free_alarm") is False)


def amqp_refused(address: str) -> bool:
    try:
        with socket.create_connection((address, 5672), timeout=2):
            return False
    except ConnectionRefusedError:
        return True


def test_a_drained_node_is_reported_until_revived(lab: Lab, api: httpx.Client) -> None:
    """3.10.8 does not report `being_drained` (absent from /api/nodes, drained or not): the rule infers it
    from a running node whose AMQP listener refuses — what `drain` does to client listeners."""
    try:
        assert lab.exec("rabbit3", "rabbitmq-upgrade", "drain").returncode == 0
        wait_until("rabbit3's AMQP listener suspended", lambda: amqp_refused("198.18.0.13"), deadline=30)
        assert "being_drained" not in node_row(api, "rabbit@rabbit3")
        found = [f for f in health(lab) if f["rule"] == "HEALTH004"]
        assert [(f["node"], f["severity"]) for f in found] == [("rabbit@rabbit3", "warning")]
        assert found[0]["message"].startswith("rabbit@rabbit3 is running but refuses AMQP connections: it is in "
                                              "maintenance mode (drained)")
        assert found[0]["remediation"].startswith("rabbitmq-upgrade -n rabbit@rabbit3 revive")
    finally:
        lab.exec("rabbit3", "rabbitmq-upgrade", "revive")
        lab.sh("heal")
    assert [f for f in health(lab) if f["rule"] == "HEALTH004"] == []


def test_plan_to_4_0_gives_the_path_and_lists_the_labs_mirrored_queues(lab: Lab, api: httpx.Client) -> None:
    vhost = quote("preflight-plan-test", safe="")
    try:
        assert api.put(f"/api/vhosts/{vhost}", json={}).status_code in (201, 204)
        assert api.put(f"/api/policies/{vhost}/ha-plan", json={
            "pattern": r"^plan\.", "definition": {"ha-mode": "all"}, "apply-to": "queues"}).status_code in (201, 204)
        for name in ("plan.1", "plan.2", "other"):
            assert api.put(f"/api/queues/{vhost}/{name}", json={"durable": True}).status_code in (201, 204)
        out = run_preflight("plan", "--to", "4.0", "-i", str(lab.inventory), "-f", "json")
        assert out.returncode == 1, out.stderr  # mirroring in use: 4.0 would stop replicating it
        doc = out.json()
        assert doc["schema"] == "preflight.plan/v1"
        assert doc["path"] == ["3.10", "3.11", "3.12", "3.13", "4.0"]
        assert set(doc["nodes"].values()) == {"3.10.8"}
        [mirroring] = doc["steps"][3]["removals"]
        assert mirroring["policies"] == [{"vhost": "preflight-plan-test", "name": "ha-plan", "pattern": r"^plan\.",
                                          "definition": {"ha-mode": "all"}, "queues": 2}]
        assert doc["steps"][2]["before"][0].startswith("upgrade Erlang/OTP from 25.2.3 to 26.0–26.2")
        text = run_preflight("plan", "--to", "4.0", "-i", str(lab.inventory))
        assert "Path: 3.10 → 3.11 → 3.12 → 3.13 → 4.0" in text.stdout
        assert "policy 'ha-plan' vhost 'preflight-plan-test'" in text.stdout
    finally:
        api.delete(f"/api/vhosts/{vhost}")
    assert run_preflight("plan", "--to", "4.0", "-i", str(lab.inventory)).returncode == 0


def set_ticktime(lab: Lab, seconds: int) -> None:
    for host in ("rabbit1", "rabbit2", "rabbit3"):
        lab.sh("ctl", host, "eval", f"net_kernel:set_net_ticktime({seconds}, 1).")


def test_a_real_partition_is_critical_and_names_both_sides(lab: Lab, api: httpx.Client) -> None:
    """rabbit3 loses every packet from rabbit1 and rabbit2 (both directions of the distribution links break),
    with net_ticktime 4 s so the loss shows in seconds; once packets flow again Mnesia reports the partition
    (the lab runs the default `cluster_partition_handling = ignore`, so it stays)."""
    chain = ["iptables", "-w"]
    try:
        set_ticktime(lab, 4)
        for peer in ("198.18.0.11", "198.18.0.12"):
            assert lab.exec("rabbit3", *chain, "-A", "PFLAB-FAULT", "-s", peer, "-j", "DROP").returncode == 0
        wait_until("rabbit1 losing rabbit3", lambda: node_row(api, "rabbit@rabbit3").get("running") is False,
                   deadline=60)
        assert lab.exec("rabbit3", *chain, "-F", "PFLAB-FAULT").returncode == 0
        wait_until("the partition reported", lambda: bool(node_row(api, "rabbit@rabbit1").get("partitions")
                                                         or node_row(api, "rabbit@rabbit3").get("partitions")),
                   deadline=90)
        [found] = [f for f in health(lab) if f["rule"] == "HEALTH001"]
        assert found["severity"] == "critical"
        # Which links Mnesia reports broken depends on timing (rabbit3 may reconnect to one peer first):
        # what must hold is two disjoint sides naming all three nodes, rabbit3 apart from someone.
        sides = re.search(r"network partition: the cluster is split into \[(.*?)\] \| \[(.*?)\]", found["message"])
        assert sides is not None, found["message"]
        big, small = ({n.strip() for n in side.split(",")} for side in sides.groups())
        assert big | small == {"rabbit@rabbit1", "rabbit@rabbit2", "rabbit@rabbit3"} and not big & small
        restart = next(iter(small))
        assert f"on {restart}: rabbitmqctl -n {restart} stop_app" in found["remediation"]
    finally:
        lab.exec("rabbit3", *chain, "-F", "PFLAB-FAULT")
        set_ticktime(lab, 60)
        lab.sh("heal")
    assert [f for f in health(lab) if f["rule"] == "HEALTH001"] == []
