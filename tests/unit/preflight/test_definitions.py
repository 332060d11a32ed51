"""Definitions exports as facts: the lab's export judged offline, loader edge cases, and the CLI flag."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rabbitmq_preflight.definitions import (
    DefinitionsError,
    management_from_definitions,
    read_definitions,
    with_definitions,
)
from tests.conftest import run_preflight
from tests.ha_facts import judge

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "definitions_ha_lab.json"


def _verdicts(report: Any) -> dict[tuple[str, str], int]:
    return {(f.rule, f.subject): f.evidence.get("queues", f.evidence.get("unmirrored")) for f in report.findings}


def test_lab_export_gives_the_lab_verdicts_offline() -> None:
    report = judge(with_definitions(None, FIXTURE), "HA001", "HA002", "HA003", "HA010")
    assert _verdicts(report) == {
        ("HA001", "vhost:preflight-ha-bare"): 4,
        ("HA002", "vhost:preflight-ha-test:ttl-orders>ha-all"): 7,
        ("HA002", "vhost:preflight-ha-test:bytes>ha-all"): 1,
        ("HA003", "vhost:preflight-ha-test:tie:tie-a+tie-b"): 1,
        ("HA010", "vhost:preflight-ha-test:quorum:1 member"): 1,
    }


def test_operator_policies_come_from_runtime_parameters_and_types_from_arguments() -> None:
    mgmt = management_from_definitions(read_definitions(FIXTURE), str(FIXTURE))
    assert mgmt.operator_policies is not None and mgmt.operator_policies.value is not None
    assert [(p.name, p.definition) for p in mgmt.operator_policies.value] == [("op-billing", {"max-length": 100})]
    assert mgmt.queues is not None and mgmt.queues.value is not None
    types = {r.name: r.type for r in mgmt.queues.value.rows}
    assert types["qq.small"] == "quorum" and types["orders.1"] == "classic"
    assert mgmt.rabbitmq_version == "3.10.8" and mgmt.nodes is None


def test_vhost_default_queue_type_applies_to_queues_without_x_queue_type(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    path.write_text(json.dumps({
        "rabbitmq_version": "3.13.7", "vhosts": [{"name": "q", "metadata": {"default_queue_type": "quorum"}}],
        "queues": [{"name": "a", "vhost": "q", "durable": True, "auto_delete": False, "arguments": {}}],
        "users": [{"name": "admin", "password_hash": "c2VjcmV0", "tags": ["administrator"]}],
    }))
    facts = with_definitions(None, path)
    assert facts.model_dump_json().count("password_hash") == 0 and "c2VjcmV0" not in facts.model_dump_json()
    mgmt = facts.views[0].management.value  # type: ignore[union-attr]
    assert mgmt is not None and mgmt.queues is not None and mgmt.queues.value is not None
    assert mgmt.queues.value.rows[0].type == "quorum"


@pytest.mark.parametrize("content, message", [
    (b"<html>", "not JSON"), (b"[]", "not a RabbitMQ definitions export"),
    (b'{"policies": {"a": 1}}', "`policies` is not a list"),
    (b'{"policies": [{"vhost": "/", "name": "p", "pattern": ".*", "definition": {}, "priority": "high"}]}',
     "non-numeric priority"),
])
def test_malformed_exports_give_one_line_errors(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "d.json"
    path.write_bytes(content)
    with pytest.raises(DefinitionsError, match=message):
        with_definitions(None, path)


_DOC = st.dictionaries(
    st.sampled_from(["rabbitmq_version", "policies", "queues", "parameters", "vhosts", "users"]),
    st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=6),
                 lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
                     st.sampled_from(["name", "vhost", "pattern", "definition", "priority", "apply-to", "value",
                                      "component", "arguments", "type", "metadata", "default_queue_type"]),
                     inner, max_size=5), max_leaves=15),
    max_size=5,
)


@given(_DOC)
@settings(max_examples=400)
def test_any_json_document_loads_as_facts_or_a_definitions_error(doc: dict[str, Any]) -> None:
    with contextlib.suppress(DefinitionsError):
        management_from_definitions(doc, "doc.json")


def test_cli_judges_a_definitions_file_alone_and_exits_1_on_errors() -> None:
    result = run_preflight("check", "--definitions", str(FIXTURE), "--select", "ha-policy,node-type,VER010",
                           "--format", "json")
    report: dict[str, Any] = result.json()
    assert result.returncode == 1, result.stderr
    assert {f["rule"] for f in report["findings"] if f["severity"] == "error"} == {"HA001", "HA002", "HA010"}
    assert {c["status"] for c in report["checks"] if c["family"] == "node-type" or c["rule"] == "VER010"} \
        == {"skipped"}
    assert any("4 of 4 classic queues are not mirrored" in f["message"] for f in report["findings"])


def test_cli_reports_an_unreadable_definitions_file_as_a_usage_error(tmp_path: Path) -> None:
    result = run_preflight("check", "--definitions", str(tmp_path / "missing.json"))
    assert result.returncode == 2 and "cannot read definitions" in result.stderr


def test_definitions_alone_judge_only_what_a_definitions_file_can_show() -> None:
    result = run_preflight("check", "--definitions", str(FIXTURE), "--format", "json")
    report = result.json()
    assert result.returncode in (0, 1), result.stderr
    assert report["checks"] and {c["family"] for c in report["checks"]} == {"ha-policy"}
    assert not [f for f in report["findings"] if f["outcome"] == "unknown" and f["family"] != "ha-policy"]


# Issue 16 item 2: every format RabbitMQ writes is read (each refused with exit 2 before).

def _write(tmp_path: Path, doc: dict[str, Any]) -> Path:
    path = tmp_path / "d.json"
    path.write_text(json.dumps(doc))
    return path


def test_per_vhost_export_without_vhost_keys_is_read_in_one_vhost(tmp_path: Path) -> None:
    """GET /api/definitions/{vhost} on 3.10.8: no `vhosts`, no `vhost` on queues and policies."""
    doc = {"rabbit_version": "3.10.8", "parameters": [], "exchanges": [], "bindings": [],
           "policies": [{"name": "ha", "pattern": "^orders\\.", "apply-to": "queues",
                         "definition": {"ha-mode": "exactly", "ha-params": 2}, "priority": 1}],
           "queues": [{"name": "orders.new", "durable": True, "auto_delete": False, "arguments": {}},
                      {"name": "logs", "durable": True, "auto_delete": False, "arguments": {}}]}
    report = judge(with_definitions(None, _write(tmp_path, doc)), "HA001")
    [finding] = report.findings
    assert finding.evidence["unmirrored"] == 1 and "logs" in finding.message and "vhost '/'" in finding.message


def test_per_vhost_export_of_4x_names_its_vhost_and_default_type(tmp_path: Path) -> None:
    doc = {"rabbit_version": "4.0.5", "rabbitmq_definition_format": "single_virtual_host",
           "original_vhost_name": "vh3", "default_queue_type": "quorum", "policies": [],
           "queues": [{"name": "a", "durable": True, "auto_delete": False, "arguments": {}}]}
    mgmt = management_from_definitions(doc, "d.json")
    assert mgmt.queues is not None and mgmt.queues.value is not None
    assert [(r.vhost, r.name, r.type) for r in mgmt.queues.value.rows] == [("vh3", "a", "quorum")]


def test_operator_policy_definition_as_key_value_pairs_is_read(tmp_path: Path) -> None:
    """rabbitmqctl export_definitions writes an operator policy's definition as [[key, value], …]."""
    doc = {"rabbit_version": "3.12.13", "vhosts": [{"name": "/"}], "policies": [], "queues": [],
           "parameters": [{"vhost": "/", "component": "operator_policy", "name": "cap",
                           "value": {"pattern": ".*", "apply-to": "queues", "priority": 0,
                                     "definition": [["max-length", 1000], ["ha-mode", "all"]]}}]}
    mgmt = management_from_definitions(doc, "d.json")
    assert mgmt.operator_policies is not None and mgmt.operator_policies.value is not None
    [op] = mgmt.operator_policies.value
    assert op.definition == {"max-length": 1000, "ha-mode": "all"}


def test_export_of_only_users_vhosts_and_permissions_is_accepted(tmp_path: Path) -> None:
    doc = {"users": [{"name": "guest", "password_hash": "c2VjcmV0", "tags": "administrator"}],
           "vhosts": [{"name": "/"}],
           "permissions": [{"user": "guest", "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"}]}
    result = run_preflight("check", "--definitions", str(_write(tmp_path, doc)), "--format", "json")
    assert result.returncode == 0, result.stderr
    assert "c2VjcmV0" not in result.stdout


def test_not_json_says_where(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    path.write_text('{\n "pattern": "^a\\-b"\n}')
    with pytest.raises(DefinitionsError, match="line 2 column"):
        with_definitions(None, path)


LAB_PER_VHOST = FIXTURE.parent / "definitions_lab_per_vhost_3.10.8.json"  # GET /api/definitions/pf16 on 3.10.8
LAB_CTL = FIXTURE.parent / "definitions_lab_ctl_operator_policy_3.10.8.json"  # rabbitmqctl export_definitions -


def test_real_per_vhost_export_from_the_lab_is_read_with_the_broker_verdict() -> None:
    """The lab broker said: orders.new -> policy mirror-orders + operator policy cap, mirrored; logs (quorum)."""
    mgmt = management_from_definitions(read_definitions(LAB_PER_VHOST), str(LAB_PER_VHOST))
    assert mgmt.queues is not None and mgmt.queues.value is not None
    assert {(r.vhost, r.name, r.type) for r in mgmt.queues.value.rows} == {
        ("pf16", "orders.new", "classic"), ("pf16", "logs", "quorum")}
    from rabbitmq_preflight.coverage import coverage_of
    cov = coverage_of(mgmt)
    assert not isinstance(cov, str)
    res = {row.name: r for row, r in cov.pairs()}["orders.new"]
    assert res.policy is not None and res.policy.name == "mirror-orders"
    assert res.operator_policy is not None and res.operator_policy.name == "cap"
    assert dict(res.effective) == {"ha-mode": "exactly", "ha-params": 2, "max-length": 1000}


def test_real_rabbitmqctl_export_with_an_operator_policy_is_read() -> None:
    mgmt = management_from_definitions(read_definitions(LAB_CTL), str(LAB_CTL))
    assert mgmt.operator_policies is not None and mgmt.operator_policies.value is not None
    assert [(p.name, p.definition) for p in mgmt.operator_policies.value] == [("cap", {"max-length": 1000})]
