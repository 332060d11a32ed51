"""HA coverage and node types on the real lab: our verdicts against what RabbitMQ itself applies.

The test creates its own vhosts, policies and queues through the management API (and removes them):
queues with and without a mirroring policy, a higher-priority TTL policy shadowing `ha-all` on
`orders.*`, quorum queues, a priority tie, an operator policy, and a name whose UTF-8 bytes matter
to Erlang's `re`. RabbitMQ's `effective_policy_definition` is the ground truth for every queue.
Set PREFLIGHT_RECORD_FIXTURES=1 to rewrite tests/fixtures/definitions_ha_lab.json from the lab.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from rabbitmq_preflight.facts import Facts
from rabbitmq_preflight.policy import PolicyIndex
from tests.conftest import Lab, run_preflight

pytestmark = pytest.mark.lab

API = "http://198.18.0.11:15672"
VHOST, BARE = "preflight-ha-test", "preflight-ha-bare"
FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "definitions_ha_lab.json"

POLICIES: list[tuple[str, str, dict[str, Any], int]] = [
    ("ha-all", ".*", {"ha-mode": "all", "ha-sync-mode": "automatic"}, 1),
    ("ttl-orders", r"^orders\.", {"message-ttl": 60000}, 10),
    ("ha-two-audit", r"^audit\.", {"ha-mode": "exactly", "ha-params": 2, "ha-sync-mode": "automatic"}, 5),
    ("limit-quorum", r"^qq\.", {"max-length": 1000}, 0),
    ("tie-a", r"^tie\.", {"max-length": 5}, 20),
    ("tie-b", r"^tie\.", {"ha-mode": "all"}, 20),
    ("bytes", "^caf..$", {"max-length": 7}, 4),  # "café" is 5 bytes: Erlang matches, Python str would not
]
OPERATOR = ("op-billing", r"^billing\.", {"max-length": 100}, 0)
NO_ARGS: dict[str, Any] = {}
QUEUES: list[tuple[str, str, dict[str, Any]]] = (
    [(VHOST, f"orders.{i}", NO_ARGS) for i in range(1, 8)]
    + [(VHOST, f"billing.{i}", NO_ARGS) for i in range(1, 4)]
    + [(VHOST, "audit.1", NO_ARGS), (VHOST, "audit.2", NO_ARGS), (VHOST, "tie.1", NO_ARGS), (VHOST, "café", NO_ARGS)]
    + [(VHOST, "qq.1", {"x-queue-type": "quorum"}),
       (VHOST, "qq.small", {"x-queue-type": "quorum", "x-quorum-initial-group-size": 1})]
    + [(BARE, f"bare.{i}", NO_ARGS) for i in range(1, 5)]
)


def _ok(resp: httpx.Response) -> httpx.Response:
    assert resp.status_code in (200, 201, 204), (resp.request.method, str(resp.request.url), resp.text)
    return resp


def _clean(client: httpx.Client) -> None:
    for vhost in (VHOST, BARE):
        client.delete(f"/api/vhosts/{quote(vhost, safe='')}")


def _create(client: httpx.Client) -> None:
    for vhost in (VHOST, BARE):
        _ok(client.put(f"/api/vhosts/{quote(vhost, safe='')}", json={}))
    v = quote(VHOST, safe="")
    for name, pattern, definition, priority in POLICIES:
        _ok(client.put(f"/api/policies/{v}/{name}", json={"pattern": pattern, "definition": definition,
                                                            "priority": priority, "apply-to": "queues"}))
    name, pattern, definition, priority = OPERATOR
    _ok(client.put(f"/api/operator-policies/{v}/{name}", json={"pattern": pattern, "definition": definition,
                                                                "priority": priority, "apply-to": "queues"}))
    for vhost, queue, arguments in QUEUES:
        _ok(client.put(f"/api/queues/{quote(vhost, safe='')}/{quote(queue, safe='')}",
                       json={"durable": True, "arguments": arguments}))


def _wait_for_statistics(client: httpx.Client, deadline: float = 90.0) -> None:
    """Policy columns appear once each queue has emitted statistics (every 5 s): wait for all of them."""
    t0 = time.monotonic()
    while True:
        rows = []
        for vhost in (VHOST, BARE):
            rows += _ok(client.get(f"/api/queues/{quote(vhost, safe='')}",
                                   params={"columns": "name,effective_policy_definition"})).json()
        if len(rows) == len(QUEUES) and all("effective_policy_definition" in r for r in rows):
            return
        assert time.monotonic() - t0 < deadline, f"queue statistics incomplete after {deadline}s: {rows}"
        time.sleep(0.5)


@pytest.fixture(scope="module")
def ha_lab(lab: Lab) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=API, auth=("guest", "guest"), timeout=30, trust_env=False) as client:
        _clean(client)
        _create(client)
        try:
            _wait_for_statistics(client)
            yield client
        finally:
            _clean(client)


def _export(client: httpx.Client) -> dict[str, Any]:
    """GET /api/definitions, users stripped, only this test's vhosts."""
    full = _ok(client.get("/api/definitions")).json()
    mine = (VHOST, BARE)
    return {
        "rabbit_version": full["rabbit_version"], "rabbitmq_version": full["rabbitmq_version"],
        "vhosts": [v for v in full["vhosts"] if v["name"] in mine],
        "policies": [p for p in full["policies"] if p["vhost"] in mine],
        "parameters": [p for p in full["parameters"] if p["vhost"] in mine],
        "queues": sorted((q for q in full["queues"] if q["vhost"] in mine), key=lambda q: (q["vhost"], q["name"])),
    }


def _check(lab: Lab, tmp: Path, *args: str) -> tuple[dict[str, Any], Facts]:
    facts_file = tmp / "facts.json"
    result = run_preflight("check", "--inventory", str(lab.inventory), "--format", "json",
                           "--save-facts", str(facts_file), *args)
    assert result.returncode in (0, 1), result.stderr
    report: dict[str, Any] = result.json()
    return report, Facts.model_validate_json(facts_file.read_bytes())


def _mine(report: dict[str, Any], rule: str) -> list[dict[str, Any]]:
    return [f for f in report["findings"] if f["rule"] == rule and (VHOST in f["subject"] or BARE in f["subject"])]


def test_resolver_agrees_with_rabbitmq_on_every_test_queue(ha_lab: httpx.Client, lab: Lab, tmp_path: Path) -> None:
    _, facts = _check(lab, tmp_path, "--select", "HA001")
    mgmt = next(v.management.value for v in facts.views if v.management and v.management.value)
    assert mgmt.policies and mgmt.policies.value is not None and mgmt.operator_policies and mgmt.queues
    assert mgmt.queues.value is not None
    rows = [r for r in mgmt.queues.value.rows if r.vhost in (VHOST, BARE)]
    assert len(rows) == len(QUEUES)
    index = PolicyIndex(mgmt.policies.value, mgmt.operator_policies.value or [])
    for row, res in zip(rows, index.resolve_rows(rows), strict=True):
        assert row.effective is not None, row.name  # the ground truth was observed
        ours = res.policy.name if res.policy else None
        if res.tied:  # RabbitMQ's pick among equal priorities is table order: ours must flag it
            assert row.policy in {ours, *(cp.name for cp in res.tied)}, row
        else:
            assert (ours, res.operator_policy.name if res.operator_policy else None) == \
                (row.policy, row.operator_policy), row
            assert dict(res.effective) == row.effective, row
    by_name = {r.name: res for r, res in zip(rows, index.resolve_rows(rows), strict=True)}
    assert by_name["café"].policy is not None and by_name["café"].policy.name == "bytes"
    assert by_name["qq.1"].policy is not None and by_name["qq.1"].policy.name == "limit-quorum"


def test_shadowing_ttl_policy_is_reported_with_the_exact_count(ha_lab: httpx.Client, lab: Lab, tmp_path: Path) -> None:
    report, _ = _check(lab, tmp_path, "--select", "ha-policy")
    shadows = {f["evidence"]["policy"]: f for f in _mine(report, "HA002")}
    orders = shadows["ttl-orders"]
    assert orders["evidence"]["queues"] == 7 and orders["evidence"]["shadowed_policy"] == "ha-all"
    assert "policy 'ttl-orders' (priority 10) shadows mirroring policy 'ha-all' (priority 1) on 7 classic queues" \
        in orders["message"]
    assert orders["severity"] == "error" and "set_policy -p preflight-ha-test ttl-orders" in orders["remediation"]
    assert shadows["bytes"]["evidence"]["queues"] == 1
    [bare] = _mine(report, "HA001")
    assert bare["evidence"]["unmirrored"] == 4 and bare["subject"] == f"vhost:{BARE}"
    assert [f["evidence"]["policies"] for f in _mine(report, "HA003")] == [["tie-a", "tie-b"]]
    [small] = _mine(report, "HA010")
    assert "1 quorum queue has 1 member in a 3-node cluster" in small["message"]


def test_definitions_export_gives_the_same_verdicts_offline(ha_lab: httpx.Client, lab: Lab, tmp_path: Path) -> None:
    exported = _export(ha_lab)
    if os.environ.get("PREFLIGHT_RECORD_FIXTURES") == "1" or not FIXTURE.exists():
        FIXTURE.write_text(json.dumps(exported, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    path = tmp_path / "definitions.json"
    path.write_text(json.dumps(exported), encoding="utf-8")
    live, _ = _check(lab, tmp_path, "--select", "HA001,HA002,HA003,HA010")
    result = run_preflight("check", "--definitions", str(path), "--select", "HA001,HA002,HA003,HA010",
                           "--format", "json")
    offline: dict[str, Any] = result.json()

    def verdicts(report: dict[str, Any]) -> set[tuple[str, str, int]]:
        return {(f["rule"], f["subject"], f["evidence"].get("queues", f["evidence"].get("unmirrored", 0)))
                for rule in ("HA001", "HA002", "HA003", "HA010") for f in _mine(report, rule)}

    assert verdicts(offline) == verdicts(live) and len(verdicts(live)) >= 5
    assert "password_hash" not in path.read_text() and "users" not in exported


def test_ram_node_is_reported_against_the_inventory(lab: Lab) -> None:
    with lab.fault("ram", "rabbit3"):
        result = run_preflight("check", "--inventory", str(lab.inventory), "--select", "node-type",
                               "--format", "json")
    report: dict[str, Any] = result.json()
    by_rule = {(f["rule"], f["node"]): f for f in report["findings"]}
    assert by_rule[("NODE003", "rabbit@rabbit3")]["severity"] == "info"  # 3.10: discouraged, not yet deprecated
    mismatch = by_rule[("NODE004", "rabbit@rabbit3")]
    assert mismatch["severity"] == "error" and "is a ram node; the inventory expects disc" in mismatch["message"]
    assert result.returncode == 1


def test_check_from_one_node_name_discovers_and_audits_the_whole_cluster(lab: Lab, tmp_path: Path) -> None:
    password = tmp_path / "mgmt-password"
    password.write_text("guest\n")
    password.chmod(0o600)
    inventory = tmp_path / "one-node.toml"
    inventory.write_text(f'[management]\nuser = "guest"\npassword_file = "{password}"\n\n'
                         '[[nodes]]\nname = "rabbit@rabbit1"\n')
    result = lab.preflight_on("rabbit1", "check", "--inventory", str(inventory), "--select", "NODE003,VER001",
                              "--format", "json")
    report = json.loads(result.stdout)
    checked = {c["node"] for c in report["checks"] if c["rule"] == "VER001" and c["status"] == "pass"}
    assert checked == {"rabbit@rabbit1", "rabbit@rabbit2", "rabbit@rabbit3"}, result.stderr
