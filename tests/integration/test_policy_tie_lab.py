"""Live priority ties on the real lab (issue 16 item 8): the policy RabbitMQ applies among policies of equal
priority is the first in its runtime-parameters table, which `/api/policies` (sorted by name) hides and
the vhost's definitions export shows. The test makes two policies, and two operator policies, of equal
priority whose table order disagrees with their name order, declares queues matching both, and holds
the tool's winner to the broker's verdict: each queue's `policy` / `operator_policy` in /api/queues.
The vhost is deleted afterwards.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from rabbitmq_preflight.coverage import Coverage, coverage_of
from rabbitmq_preflight.facts import Facts, ManagementFacts
from tests.conftest import Lab, run_preflight

pytestmark = pytest.mark.lab

API = "http://198.18.0.11:15672"
VHOST = "preflight-tie-order"
V = quote(VHOST, safe="")
QUEUES = [f"q.{i}" for i in range(1, 5)]


def _ok(resp: httpx.Response) -> httpx.Response:
    assert resp.status_code in (200, 201, 204), (resp.request.method, str(resp.request.url), resp.text)
    return resp


def _export_order(client: httpx.Client, kind: str) -> list[str]:
    export = _ok(client.get(f"/api/definitions/{V}")).json()
    if kind == "policies":
        return [p["name"] for p in export["policies"]]
    return [p["name"] for p in export["parameters"] if p["component"] == "operator_policy"]


def _tie_out_of_name_order(client: httpx.Client, kind: str, definitions: list[dict[str, Any]]) -> list[str]:
    """Create pairs of equal-priority (operator) policies until the table lists a pair out of name order
    (the table is a hash table: about one pair in two); the pairs that were in order are removed."""
    for attempt in range(40):
        names = [f"{kind[:2]}-{attempt:02}-a", f"{kind[:2]}-{attempt:02}-b"]
        for name, definition in zip(names, definitions, strict=True):
            _ok(client.put(f"/api/{kind}/{V}/{name}", json={"pattern": r"^q\.", "definition": definition,
                                                            "priority": 5, "apply-to": "queues"}))
        listed = [n for n in _export_order(client, kind) if n in names]
        if listed != sorted(listed):
            return listed
        for name in names:
            _ok(client.delete(f"/api/{kind}/{V}/{name}"))
    raise AssertionError(f"no pair of {kind} listed out of name order in 40 tries")


@pytest.fixture(scope="module")
def tie_lab(lab: Lab) -> Iterator[tuple[httpx.Client, list[str], list[str]]]:
    password = (lab.base / "mgmt-password").read_text().strip()
    with httpx.Client(base_url=API, auth=("guest", password), timeout=30, trust_env=False) as client:
        client.delete(f"/api/vhosts/{V}")
        try:
            _ok(client.put(f"/api/vhosts/{V}", json={}))
            policies = _tie_out_of_name_order(client, "policies", [{"ha-mode": "all"}, {"max-length": 1000}])
            operator = _tie_out_of_name_order(client, "operator-policies", [{"max-length": 50}, {"max-length": 70}])
            for name in QUEUES:
                _ok(client.put(f"/api/queues/{V}/{name}", json={"durable": True}))
            # the table as it stands now (the operator policies share it): the order the queues were given
            policies = [n for n in _export_order(client, "policies") if n in policies]
            operator = [n for n in _export_order(client, "operator-policies") if n in operator]
            yield client, policies, operator
        finally:
            client.delete(f"/api/vhosts/{V}")


def _broker_verdict(client: httpx.Client, deadline: float = 90.0) -> dict[str, tuple[str, str]]:
    """Each queue's policy and operator policy as the broker applied them (the columns appear once the
    queue has emitted statistics, every 5 s): polled until every queue has both."""
    t0 = time.monotonic()
    while True:
        rows = _ok(client.get(f"/api/queues/{V}", params={"columns": "name,policy,operator_policy"})).json()
        if len(rows) == len(QUEUES) and all(r.get("policy") and r.get("operator_policy") for r in rows):
            return {r["name"]: (r["policy"], r["operator_policy"]) for r in rows}
        assert time.monotonic() - t0 < deadline, f"queue statistics incomplete after {deadline}s: {rows}"
        time.sleep(0.5)


def _check(lab: Lab, tmp: Path) -> tuple[dict[str, Any], ManagementFacts]:
    facts_file = tmp / "facts.json"
    result = run_preflight("check", "--inventory", str(lab.inventory), "--format", "json",
                           "--save-facts", str(facts_file), "--select", "HA003")
    assert result.returncode in (0, 1), result.stderr
    facts = Facts.model_validate_json(facts_file.read_bytes())
    mgmt = next(v.management.value for v in facts.views if v.management and v.management.value)
    report: dict[str, Any] = result.json()
    return report, mgmt


def test_live_tie_winner_is_the_brokers_not_the_name_orders(
        tie_lab: tuple[httpx.Client, list[str], list[str]], lab: Lab, tmp_path: Path) -> None:
    client, policies, operator = tie_lab
    broker = _broker_verdict(client)
    assert set(broker.values()) == {(policies[0], operator[0])}, (broker, policies, operator)
    assert sorted(policies)[0] != policies[0] and sorted(operator)[0] != operator[0]  # name order would be wrong

    report, mgmt = _check(lab, tmp_path)
    cov = coverage_of(mgmt)
    assert isinstance(cov, Coverage)
    ours = {row.name: (res.policy.name if res.policy else None,
                       res.operator_policy.name if res.operator_policy else None)
            for row, res in cov.pairs() if row.vhost == VHOST}
    assert ours == broker
    assert mgmt.policy_order is not None and mgmt.policy_order[VHOST].ok
    [tie] = [f for f in report["findings"] if f["rule"] == "HA003" and f"vhost:{VHOST}:" in f["subject"]
             and f["evidence"]["policies"] == sorted(policies)]
    assert tie["evidence"]["applies"] == policies[0] and f"RabbitMQ applies '{policies[0]}'" in tie["message"]
