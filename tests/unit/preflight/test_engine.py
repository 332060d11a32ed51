"""The rule engine: selection, check statuses, waivers, crashing rules."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from rabbitmq_preflight.engine import SelectionError, run_rules
from rabbitmq_preflight.facts import Facts
from rabbitmq_preflight.inventory import Waiver
from rabbitmq_preflight.pipeline import choose_rules
from rabbitmq_preflight.rule import Fail, Result, Rule, Unknown
from rabbitmq_preflight.rules import rule_by_id
from tests.factories import facts, node


def test_selection_by_id_prefix_slug_and_family() -> None:
    assert {r.id for r in choose_rules(["VER001"], [])} == {"VER001"}
    assert {r.slug for r in choose_rules(["port-filtered"], [])} == {"port-filtered"}
    assert {r.family for r in choose_rules(["version"], [])} == {"version"}
    assert all(r.id.startswith("PORT") for r in choose_rules(["PORT"], []))
    assert "VER001" not in {r.id for r in choose_rules([], ["version-mismatch"])}


def test_unknown_selection_token_is_an_error() -> None:
    with pytest.raises(SelectionError, match="NOPE999"):
        choose_rules(["NOPE999"], [])


def _crashing(facts: Facts) -> Iterator[Result]:
    raise RuntimeError("boom")
    yield  # pragma: no cover


def test_a_crashing_rule_is_reported_unknown_not_pass() -> None:
    r = Rule("TST001", "test-crash", "cluster", "error", "t", "r", "fix", _crashing)
    report = run_rules(facts(node("rabbit@a")), [r])
    assert report.checks[0].status == "unknown"
    assert "failed internally (RuntimeError)" in report.findings[0].message
    assert "boom" not in report.findings[0].message


def _fail_and_unknown(facts: Facts) -> Iterator[Result]:
    yield Fail("rabbit@a", "bad thing", subject="s")
    yield Unknown("rabbit@b", "no data")


def test_unknown_severity_follows_unknown_as() -> None:
    r = Rule("TST002", "test-mixed", "cluster", "warning", "t", "r", "fix", _fail_and_unknown)
    report = run_rules(facts(node("rabbit@a"), node("rabbit@b")), [r], unknown_severity="warning")
    assert [(f.node, f.severity, f.outcome) for f in report.findings] == [
        ("rabbit@a", "warning", "fail"), ("rabbit@b", "warning", "unknown")
    ]
    assert report.exit_code("error") == 0 and report.exit_code("warning") == 1


def test_active_waiver_marks_finding_waived_and_keeps_gate_green() -> None:
    today = dt.date(2026, 11, 25)
    waiver = Waiver(rule="version", node="rabbit@b", reason="CHG-1", expires=dt.date(2026, 12, 31))
    report = run_rules(facts(node("rabbit@a", "3.12.1"), node("rabbit@b", "3.10.8")), [rule_by_id("VER001")],
                       waivers=[waiver], today=today)
    [f] = report.findings
    assert f.waived and f.waiver_reason == "CHG-1"
    assert report.summary.waived == 1 and report.summary.error == 0 and report.exit_code("error") == 0


def test_expired_waiver_stops_waiving_and_is_reported() -> None:
    today = dt.date(2026, 11, 25)
    waiver = Waiver(rule="VER001", reason="old", expires=dt.date(2026, 1, 1))
    f = facts(node("rabbit@a", "3.12.1"), node("rabbit@b", "3.10.8"))
    f = f.model_copy(update={"inventory": f.inventory.model_copy(update={"waivers": [waiver]})})
    report = run_rules(f, [rule_by_id("VER001"), rule_by_id("WAIVER001")], waivers=[waiver], today=today)
    assert {f.rule for f in report.findings} == {"VER001", "WAIVER001"}
    assert not any(f.waived for f in report.findings)
    assert report.exit_code("error") == 1
