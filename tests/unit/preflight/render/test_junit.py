"""JUnit XML output: parses, one suite per family, one case per check, counts that add up."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from hypothesis import given
from hypothesis import strategies as st

from rabbitmq_preflight.render import render
from rabbitmq_preflight.report import Report
from tests.gating_samples import check, finding, sample_context, sample_report


def parse(report: Report, inventory: str | None = "deploy/inventory.toml") -> ET.Element:
    return ET.fromstring(render("junit", report, sample_context(report, inventory=inventory)))


def case(root: ET.Element, name: str) -> ET.Element:
    found = [c for c in root.iter("testcase") if c.get("name") == name]
    assert len(found) == 1, [c.get("name") for c in root.iter("testcase")]
    return found[0]


def test_one_suite_per_family_and_one_case_per_check() -> None:
    report = sample_report()
    root = parse(report)
    assert [s.get("name") for s in root.iter("testsuite")] == ["preflight cluster", "preflight port",
                                                               "preflight version"]
    names = [c.get("name") for c in root.iter("testcase")]
    assert len(names) == len(set(names))  # GitLab drops duplicate names after the first
    # every check, plus the expired waiver, which belongs to no check
    assert len(names) == len(report.checks) + 1


def test_counts_match_the_report_and_add_up() -> None:
    report = sample_report()
    root = parse(report)
    for suite in [root, *root.iter("testsuite")]:
        cases = list(suite.iter("testcase"))
        failures = [c for c in cases if c.find("failure") is not None]
        skipped = [c for c in cases if c.find("skipped") is not None]
        assert suite.get("tests") == str(len(cases))
        assert suite.get("failures") == str(len(failures))
        assert suite.get("skipped") == str(len(skipped))
        assert suite.get("errors") == "0"
    passed = [c for c in root.iter("testcase") if len(c) == 0]
    assert len(passed) == report.summary.checks.pass_
    # failed checks: 5 in the report, minus the waived one and the baseline one, plus the expired waiver
    assert root.get("failures") == str(report.summary.checks.fail - 2 + 1)


def test_failure_message_and_body_both_carry_the_finding_and_the_fix() -> None:
    failure = case(parse(sample_report()), "PORT001 port-refused on rabbit@b").find("failure")
    assert failure is not None
    message, body = failure.get("message") or "", failure.text or ""
    for text in (message, body):
        assert "refused the connection" in text
        assert "systemctl start rabbitmq-server" in text
    assert failure.get("type") == "PORT001"
    assert '"port": 5672' in body  # the evidence


def test_waived_check_is_skipped_with_the_waiver_reason() -> None:
    skipped = case(parse(sample_report()), "PORT002 port-filtered on rabbit@a").find("skipped")
    assert skipped is not None
    assert "waived: DR site, firewall change CHG-1234 pending" in (skipped.get("message") or "")
    assert "waived: DR site" in (skipped.text or "")


def test_baseline_check_is_skipped_and_says_so() -> None:
    skipped = case(parse(sample_report()), "PORT004 port-wrong-protocol on rabbit@a").find("skipped")
    assert skipped is not None and "in the baseline" in (skipped.text or "")


def test_unknown_and_inapplicable_checks_are_skipped_with_their_reason() -> None:
    root = parse(sample_report())
    unknown = case(root, "VER003 erlang-mismatch on rabbit@c").find("skipped")
    assert unknown is not None and unknown.text == "unknown: no Erlang/OTP version observed"
    inapplicable = case(root, "PORT004 port-wrong-protocol on rabbit@b").find("skipped")
    assert inapplicable is not None and "no protocol was tested" in (inapplicable.text or "")


def test_passed_check_is_an_empty_testcase() -> None:
    passed = case(parse(sample_report()), "PORT001 port-refused on rabbit@a")
    assert len(passed) == 0


def test_file_attribute_only_with_an_inventory_file() -> None:
    assert {c.get("file") for c in parse(sample_report()).iter("testcase")} == {"deploy/inventory.toml"}
    assert {c.get("file") for c in parse(sample_report(), inventory=None).iter("testcase")} == {None}


def test_empty_report_is_a_valid_empty_testsuites() -> None:
    root = parse(sample_report(findings=[], checks=[]))
    assert root.tag == "testsuites" and root.get("tests") == "0" and list(root) == []


@given(st.text(max_size=60), st.text(max_size=60))
def test_any_text_from_the_network_still_yields_parseable_xml(message: str, detail: str) -> None:
    f = finding("PORT004", "port-wrong-protocol", "port", "error", "rabbit@a", "tcp/5672 (amqp)",
                message=f"rabbit@a: answered {message!s}", remediation=detail, evidence={"banner": message})
    report = sample_report(findings=[f], checks=[check("PORT004", "port-wrong-protocol", "port", "rabbit@a", "fail")])
    root = parse(report)
    failure = case(root, "PORT004 port-wrong-protocol on rabbit@a").find("failure")
    assert failure is not None and "rabbit@a: answered" in (failure.get("message") or "")
