"""SARIF 2.1.0 output: valid against the official schema, and shaped the way GitHub accepts it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from rabbitmq_preflight.render import render
from rabbitmq_preflight.render.sarif import FINGERPRINT_KEY, artifact_uri, sarif_log
from rabbitmq_preflight.report import Finding
from tests.gating_samples import finding, sample_context, sample_report

SCHEMA_ENV = "PREFLIGHT_SARIF_SCHEMA"
DEFAULT_SCHEMA = Path(__file__).resolve().parents[4].parent / "shared/schemas/sarif-schema-2.1.0.json"


def schema_path() -> Path:
    return Path(os.environ.get(SCHEMA_ENV, DEFAULT_SCHEMA))


def validate(doc: dict[str, Any]) -> None:
    path = schema_path()
    if not path.is_file():
        pytest.skip(f"official SARIF 2.1.0 schema not found at {path} (set {SCHEMA_ENV} to its path)")
    import jsonschema

    schema = json.loads(path.read_text(encoding="utf-8"))
    validator_cls = jsonschema.validators.validator_for(schema)
    validator = validator_cls(schema, format_checker=validator_cls.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:10])


def results(doc: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = doc["runs"][0]["results"]
    return out


def test_report_with_every_severity_validates_against_the_official_schema() -> None:
    report = sample_report()
    assert {f.severity for f in report.findings} == {"info", "warning", "error", "critical"}
    doc = json.loads(render("sarif", report, sample_context(report)))
    validate(doc)
    assert doc["version"] == "2.1.0"


def test_without_an_inventory_file_the_document_is_still_valid() -> None:
    report = sample_report()
    validate(sarif_log(report, sample_context(report, inventory=None)))


def test_levels_follow_severity() -> None:
    report = sample_report()
    doc = sarif_log(report, sample_context(report))
    levels = {(r["ruleId"], r["properties"]["severity"]): r["level"] for r in results(doc)}
    assert levels[("PORT003", "critical")] == "error"
    assert levels[("PORT001", "error")] == "error"
    assert levels[("VER001", "warning")] == "warning"
    assert levels[("VER001", "info")] == "note"


def test_one_rule_descriptor_per_rule_with_help_and_default_level() -> None:
    report = sample_report()
    ctx = sample_context(report)
    rules = sarif_log(report, ctx)["runs"][0]["tool"]["driver"]["rules"]
    ids = [r["id"] for r in rules]
    assert len(ids) == len(set(ids))
    assert set(ids) >= {r.id for r in ctx.rules}
    port001 = next(r for r in rules if r["id"] == "PORT001")
    assert port001["defaultConfiguration"]["level"] == "error"
    assert "nothing listens" in port001["help"]["text"]  # the rationale
    assert "systemctl start rabbitmq-server" in port001["help"]["text"]  # the remediation


def test_engine_made_findings_get_a_descriptor_too() -> None:
    report = sample_report()
    doc = sarif_log(report, sample_context(report))
    rules = doc["runs"][0]["tool"]["driver"]["rules"]
    waiver = next(r for r in results(doc) if r["ruleId"] == "WAIVER001")
    assert rules[waiver["ruleIndex"]]["id"] == "WAIVER001"


def test_every_result_points_at_its_rule_by_index() -> None:
    report = sample_report()
    doc = sarif_log(report, sample_context(report))
    rules = doc["runs"][0]["tool"]["driver"]["rules"]
    assert len(results(doc)) == len(report.findings)
    for result in results(doc):
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]


def test_every_result_has_a_physical_location_on_the_nodes_inventory_line() -> None:
    report = sample_report()
    doc = sarif_log(report, sample_context(report))
    for result in results(doc):
        [location] = result["locations"]
        assert location["physicalLocation"]["artifactLocation"]["uri"] == "deploy/inventory.toml"
    refused = next(r for r in results(doc) if r["ruleId"] == "PORT001")
    [location] = refused["locations"]
    assert location["physicalLocation"]["region"] == {"startLine": 11}
    assert location["logicalLocations"] == [
        {"name": "rabbit@b", "fullyQualifiedName": "prod/rabbit@b", "kind": "resource"}
    ]


def test_cluster_wide_finding_has_the_cluster_as_logical_location_and_no_line() -> None:
    report = sample_report()
    doc = sarif_log(report, sample_context(report))
    [location] = next(r for r in results(doc) if r["ruleId"] == "WAIVER001")["locations"]
    assert "region" not in location["physicalLocation"]
    assert location["logicalLocations"][0]["fullyQualifiedName"] == "prod"


def test_no_inventory_file_anchors_to_a_stable_per_cluster_uri() -> None:
    report = sample_report()
    doc = sarif_log(report, sample_context(report, inventory=None))
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results(doc)}
    assert uris == {"rabbitmq-preflight/prod"}
    assert all("region" not in r["locations"][0]["physicalLocation"] for r in results(doc))


def test_artifact_uris_are_percent_encoded_and_absolute_paths_become_file_uris() -> None:
    assert artifact_uri("deploy/my inventory.toml", "c") == "deploy/my%20inventory.toml"
    assert artifact_uri("/etc/preflight/prod.toml", "c") == "file:///etc/preflight/prod.toml"
    assert artifact_uri(None, "eu west") == "rabbitmq-preflight/eu%20west"
    # a config file read on a node's host over SSH is a file on that host, not in the repository
    assert artifact_uri("rabbit@rabbit2:/etc/rabbitmq/rabbitmq.conf", "c") == "file://rabbit2/etc/rabbitmq/rabbitmq.conf"


def _fingerprints(findings: list[Finding]) -> list[str]:
    report = sample_report(findings=findings, checks=[])
    return [r["partialFingerprints"][FINGERPRINT_KEY] for r in results(sarif_log(report, sample_context(report)))]


def test_fingerprint_is_stable_when_the_measured_value_in_the_message_changes() -> None:
    before = finding("PORT002", "port-filtered", "port", "error", "rabbit@a", "tcp/4369 (epmd)",
                     message="rabbit@a: tcp/4369 did not answer within 2000 ms")
    after = before.model_copy(update={"message": "rabbit@a: tcp/4369 did not answer within 2004 ms"})
    assert _fingerprints([before]) == _fingerprints([after])


def test_fingerprint_differs_by_node_and_by_subject() -> None:
    base = finding("PORT002", "port-filtered", "port", "error", "rabbit@a", "tcp/4369 (epmd)")
    other_node = base.model_copy(update={"node": "rabbit@b"})
    other_port = base.model_copy(update={"subject": "tcp/25672 (dist)"})
    assert len(set(_fingerprints([base, other_node, other_port]))) == 3


def test_waived_finding_is_a_suppression_with_the_waiver_reason() -> None:
    report = sample_report()
    doc = sarif_log(report, sample_context(report))
    waived = next(r for r in results(doc) if r["ruleId"] == "PORT002")
    assert waived["suppressions"] == [
        {"kind": "external", "status": "accepted", "justification": "DR site, firewall change CHG-1234 pending"}
    ]
    assert all("suppressions" not in r for r in results(doc) if r["ruleId"] != "PORT002")


def test_baseline_findings_are_unchanged_and_the_others_new() -> None:
    report = sample_report()
    doc = sarif_log(report, sample_context(report))
    states = {r["ruleId"]: r["baselineState"] for r in results(doc) if r["ruleId"] in ("PORT004", "PORT001")}
    assert states == {"PORT004": "unchanged", "PORT001": "new"}


def test_invocation_carries_the_exit_code_and_the_checking_host() -> None:
    report = sample_report()
    [invocation] = sarif_log(report, sample_context(report))["runs"][0]["invocations"]
    assert invocation["exitCode"] == 1 and invocation["executionSuccessful"] is True
    assert invocation["machine"] == "ci-runner-7"
    report_ok = sample_report(findings=[], checks=[])
    [ok] = sarif_log(report_ok, sample_context(report_ok))["runs"][0]["invocations"]
    assert ok["exitCode"] == 0


def test_message_carries_the_finding_and_its_fix() -> None:
    report = sample_report()
    refused = next(r for r in results(sarif_log(report, sample_context(report))) if r["ruleId"] == "PORT001")
    assert "refused the connection" in refused["message"]["text"]
    assert "systemctl start rabbitmq-server" in refused["message"]["text"]
    assert refused["properties"]["evidence"] == {"port": 5672, "status": "refused"}


def test_the_schema_check_itself_rejects_a_result_with_a_bad_level() -> None:
    report = sample_report()
    doc = sarif_log(report, sample_context(report))
    results(doc)[0]["level"] = "critical"
    with pytest.raises(AssertionError, match="level"):
        validate(doc)
