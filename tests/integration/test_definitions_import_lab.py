"""HA014 against the lab's RabbitMQ 3.10.8: the broker refuses exactly the definitions the tool says it will.

Each case is a small definitions file with one policy (or operator policy) in a vhost of its own. The
test imports it through the management API (`POST /api/definitions` on rabbit1), reads whether the
broker accepted it, and compares with HA014 on the same file; then deletes the vhost again. Issue 16 item 5.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from rabbitmq_preflight.definitions import with_definitions
from rabbitmq_preflight.engine import run_rules
from rabbitmq_preflight.rules import rule_by_id
from tests.conftest import Lab

pytestmark = pytest.mark.lab

API = "http://198.18.0.11:15672"
VHOST = "preflight-import-{}"

# (case, policy definition, operator policy?, apply-to)
CASES: list[tuple[str, dict[str, Any], bool, str]] = [
    ("ha-all-with-params", {"ha-mode": "all", "ha-params": 2}, False, "queues"),
    ("params-without-mode", {"ha-params": 2}, False, "queues"),
    ("exactly-without-params", {"ha-mode": "exactly"}, False, "queues"),
    ("nodes-empty", {"ha-mode": "nodes", "ha-params": []}, False, "queues"),
    ("bad-sync-mode", {"ha-mode": "all", "ha-sync-mode": "auto"}, False, "queues"),
    ("unknown-key", {"max-priority": 10}, False, "queues"),
    ("empty", {}, False, "queues"),
    ("expires-zero", {"expires": 0}, False, "queues"),
    ("ttl-negative", {"message-ttl": -1}, False, "queues"),
    ("apply-to-classic-queues", {"ha-mode": "all"}, False, "classic_queues"),
    ("operator-queue-mode", {"queue-mode": "lazy"}, True, "queues"),
    ("operator-ha-mode", {"ha-mode": "exactly", "ha-params": 2}, True, "queues"),
    ("valid-mirroring", {"ha-mode": "exactly", "ha-params": 2, "ha-sync-mode": "automatic"}, False, "queues"),
    ("valid-operator", {"max-length": 1000}, True, "queues"),
    ("valid-ttl", {"message-ttl": 60000, "overflow": "reject-publish"}, False, "all"),
]


def _document(i: int, definition: dict[str, Any], operator: bool, apply_to: str) -> dict[str, Any]:
    vhost = VHOST.format(i)
    body = {"pattern": "^orders\\.", "apply-to": apply_to, "priority": 1, "definition": definition}
    doc: dict[str, Any] = {
        "rabbit_version": "3.10.8", "vhosts": [{"name": vhost}], "policies": [], "parameters": [],
        "queues": [{"name": "orders.1", "vhost": vhost, "durable": True, "auto_delete": False, "arguments": {}}],
    }
    if operator:
        doc["parameters"] = [{"vhost": vhost, "component": "operator_policy", "name": "p", "value": body}]
    else:
        doc["policies"] = [{"vhost": vhost, "name": "p", **body}]
    return doc


@pytest.fixture
def client(lab: Lab) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=API, auth=("guest", "guest"), timeout=30.0) as c:
        yield c
        for i in range(len(CASES)):
            c.delete(f"/api/vhosts/{VHOST.format(i)}")


def test_the_broker_refuses_exactly_what_ha014_says(client: httpx.Client, tmp_path: Path) -> None:
    rows = []
    for i, (case, definition, operator, apply_to) in enumerate(CASES):
        doc = _document(i, definition, operator, apply_to)
        path = tmp_path / f"{case}.json"
        path.write_text(json.dumps(doc))
        findings = run_rules(with_definitions(None, path), [rule_by_id("HA014")]).findings
        resp = client.post("/api/definitions", json=doc)
        broker_refused = resp.status_code >= 400
        created = client.get(f"/api/queues/{VHOST.format(i)}/orders.1").status_code == 200
        rows.append((case, broker_refused, bool(findings), created, resp.text[:160]))
        client.delete(f"/api/vhosts/{VHOST.format(i)}")
    for row in rows:
        print(row)
    assert [(case, tool) for case, _, tool, _, _ in rows] == [(case, broker) for case, broker, _, _, _ in rows]
    refused = [r for r in rows if r[1]]
    assert len(refused) == 12 and len(rows) - len(refused) == 3
    # a refused import creates none of the file's queues: the whole file fails, not just the policy
    assert [(case, created) for case, broker, _, created, _ in rows] == [(r[0], not r[1]) for r in rows]
