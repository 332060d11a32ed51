"""Version rules judged from facts fixtures: no network."""

from __future__ import annotations

from rabbitmq_preflight.engine import run_rules
from rabbitmq_preflight.inventory import ExpectSection
from rabbitmq_preflight.report import Report
from rabbitmq_preflight.rules import rule_by_id
from rabbitmq_preflight.rules.versions import legal_mix, upgrade_route
from tests.factories import facts, node


def judge(rule_id: str, *nodes: object, **kw: object) -> Report:
    return run_rules(facts(*nodes, **kw), [rule_by_id(rule_id)])  # type: ignore[arg-type]


def test_equal_versions_pass_on_every_node() -> None:
    report = judge("VER001", node("rabbit@a"), node("rabbit@b"), node("rabbit@c"))
    assert report.findings == []
    assert [c.status for c in report.checks] == ["pass", "pass", "pass"]


def test_3_10_8_against_3_12_1_is_an_error_naming_the_node_and_both_versions() -> None:
    report = judge("VER001", node("rabbit@a", "3.12.1"), node("rabbit@b", "3.10.8"))
    [f] = report.findings
    assert f.severity == "error" and f.rule == "VER001"
    assert f.node == "rabbit@b"
    assert "3.10.8" in f.message and "3.12.1" in f.message
    assert "3.10 → 3.11 → 3.12" in f.remediation
    assert f.evidence["upgrade_path"] == ["3.10", "3.11", "3.12"]


def test_unreachable_node_makes_parity_unknown_not_pass() -> None:
    report = judge("VER001", node("rabbit@a"), node("rabbit@b", down=True))
    by_node = {c.node: c.status for c in report.checks}
    assert by_node == {"rabbit@a": "pass", "rabbit@b": "unknown"}
    [f] = report.findings
    assert f.outcome == "unknown" and f.node == "rabbit@b" and "connection refused" in f.message


def test_patch_mix_is_info() -> None:
    report = judge("VER001", node("rabbit@a", "3.10.8"), node("rabbit@b", "3.10.8"), node("rabbit@c", "3.10.7"))
    [f] = report.findings
    assert (f.severity, f.node) == ("info", "rabbit@c")


def test_adjacent_series_is_a_rolling_upgrade_warning() -> None:
    report = judge("VER001", node("rabbit@a", "3.13.7"), node("rabbit@b", "3.13.7"), node("rabbit@c", "4.0.5"))
    [f] = report.findings
    assert f.severity == "warning" and "rolling upgrade 3.13 → 4.0 is in progress" in f.message


def test_upgrade_paths_follow_the_documented_table() -> None:
    assert legal_mix("3.13", "4.2") and not legal_mix("3.12", "4.0")
    assert upgrade_route("3.12", "4.1") == ["3.12", "3.13", "4.1"]
    assert upgrade_route("4.3", "3.13") == []


def test_unexpected_series_names_the_expectation() -> None:
    report = judge("VER002", node("rabbit@a", "3.10.8"), expect=ExpectSection(rabbitmq="3.13"))
    [f] = report.findings
    assert "expects 3.13" in f.message and "rabbitmq-server=3.13" in f.remediation


def test_expected_series_matches_patch_versions() -> None:
    assert judge("VER002", node("rabbit@a", "3.13.7"), expect=ExpectSection(rabbitmq="3.13")).findings == []


def test_erlang_major_mix_is_an_error() -> None:
    report = judge("VER003", node("rabbit@a", otp="26.2.1"), node("rabbit@b", otp="26.1"), node("rabbit@c", otp="25.3"))
    [f] = report.findings
    assert f.node == "rabbit@c" and "Erlang/OTP 25.3" in f.message


def test_rabbitmq_3_13_on_otp_25_is_outside_the_compatibility_table() -> None:
    report = judge("VER004", node("rabbit@a", "3.13.1", otp="25.3"))
    [f] = report.findings
    assert "supports Erlang/OTP 26–26" in f.message


def test_lab_pair_3_10_on_otp_25_is_supported() -> None:
    assert judge("VER004", node("rabbit@a", "3.10.8", otp="25.2.3")).findings == []
