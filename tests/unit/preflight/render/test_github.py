"""GitHub Actions output: annotations escaped and capped as the runner expects, plus the job summary."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from rabbitmq_preflight.render import render
from rabbitmq_preflight.render.github import PER_KIND_LIMIT, annotation, escape_data, escape_property, summary_markdown
from rabbitmq_preflight.report import Finding
from tests.conftest import run_preflight
from tests.factories import facts, node
from tests.gating_samples import finding, sample_context, sample_report

COMMAND = re.compile(r"^::(error|warning|notice) (?P<props>[^:]*)::(?P<message>.*)$")


def unescape(text: str) -> str:
    return text.replace("%0D", "\r").replace("%0A", "\n").replace("%3A", ":").replace("%2C", ",").replace("%25", "%")


def props(line: str) -> dict[str, str]:
    m = COMMAND.match(line)
    assert m, line
    return {k: unescape(v) for k, v in (p.split("=", 1) for p in m["props"].split(","))}


def test_levels_title_file_and_line() -> None:
    report = sample_report()
    lines = render("github", report, sample_context(report)).splitlines()
    refused = next(line for line in lines if "PORT001" in line)
    assert refused.startswith("::error ")
    assert props(refused) == {"file": "deploy/inventory.toml", "line": "11",
                              "title": "rabbit@b PORT001 port-refused"}
    assert any(line.startswith("::warning ") and "VER001" in line for line in lines)
    assert any(line.startswith("::notice ") and "VER001" in line for line in lines)
    assert any(line.startswith("::error ") and "PORT003" in line for line in lines)  # critical


def test_no_file_property_without_an_inventory_file() -> None:
    report = sample_report()
    lines = render("github", report, sample_context(report, inventory=None)).splitlines()
    annotations = [line for line in lines if line.startswith("::")]
    assert annotations and all("file=" not in line and "line=" not in line for line in annotations)
    assert all("title=" in line for line in annotations)


def test_waived_and_baseline_findings_are_not_annotated() -> None:
    report = sample_report()
    out = render("github", report, sample_context(report))
    assert "PORT002" not in out and "PORT004" not in out


def test_message_carries_the_fix_on_an_escaped_second_line() -> None:
    f = finding("PORT001", "port-refused", "port", "error", "rabbit@b", message="50% of: a,b\r\nrefused",
                remediation="run `x`")
    line = annotation(f, sample_context(sample_report()))
    m = COMMAND.match(line)
    assert m and unescape(m["message"]) == "50% of: a,b\r\nrefused\nfix: run `x`"


@given(st.text())
def test_escaped_data_never_breaks_the_line_and_round_trips(text: str) -> None:
    escaped = escape_data(text)
    assert "\n" not in escaped and "\r" not in escaped
    assert unescape(escaped) == text


@given(st.text())
def test_escaped_property_has_no_separator_and_round_trips(text: str) -> None:
    escaped = escape_property(text)
    assert not set(escaped) & {"\n", "\r", ":", ","}
    assert unescape(escaped) == text


def many(severity: str, count: int) -> list[Finding]:
    return [finding("PORT001", "port-refused", "port", severity, f"rabbit@n{i}", f"tcp/{i}")  # type: ignore[arg-type]
            for i in range(count)]


def test_annotations_are_capped_per_kind_and_the_rest_is_counted() -> None:
    report = sample_report(findings=many("error", 14) + many("warning", 3) + many("info", 12), checks=[])
    lines = render("github", report, sample_context(report)).splitlines()
    kinds = [line.split(" ", 1)[0] for line in lines if line.startswith("::")]
    assert kinds.count("::error") == PER_KIND_LIMIT
    assert kinds.count("::warning") == 3
    # nine notices leave room for the tenth: the line that says what was left out (4 + 3 findings)
    assert kinds.count("::notice") == PER_KIND_LIMIT
    omitted = next(line for line in lines if "not annotated" in line)
    assert omitted.startswith("::notice ") and "7 more finding(s)" in omitted
    assert lines[-1] == "preflight: FAIL: 14 finding(s) at or above error"


def test_nothing_is_said_about_omissions_under_the_limits() -> None:
    report = sample_report(findings=many("error", PER_KIND_LIMIT), checks=[])
    out = render("github", report, sample_context(report))
    assert "not annotated" not in out and out.count("::error") == PER_KIND_LIMIT


def test_clean_report_prints_the_verdict_only() -> None:
    report = sample_report(findings=[], checks=[])
    assert render("github", report, sample_context(report)) == "preflight: PASS: nothing at or above error\n"


def test_summary_table_has_one_row_per_finding_with_status() -> None:
    report = sample_report()
    md = summary_markdown(report, sample_context(report))
    rows = [line for line in md.splitlines() if line.startswith("| ") and line.split()[1] not in ("Severity", "---")]
    assert len(rows) == len(report.findings)
    assert "❌ FAIL" in md and "3 finding(s) at or above **error**" in md
    waived = next(r for r in rows if "PORT002" in r)
    assert "waived: DR site, firewall change CHG-1234 pending" in waived
    assert "in the baseline" in next(r for r in rows if "PORT004" in r)
    assert "**fails the gate**" in next(r for r in rows if "PORT001" in r)
    assert "below --fail-on error" in next(r for r in rows if "warning | VER001" in r)


def test_summary_cells_escape_pipes_newlines_and_angle_brackets() -> None:
    f = finding("PORT002", "port-filtered", "port", "error", "rabbit@a", message="a | b\nc",
                remediation="ufw allow from <rabbit1 address>")
    report = sample_report(findings=[f], checks=[])
    [row] = [line for line in summary_markdown(report, sample_context(report)).splitlines() if "PORT002" in line]
    assert "a \\| b<br>c" in row and "&lt;rabbit1 address&gt;" in row
    assert row.count(" | ") == 5  # six cells, no extra column from the message's pipe


def test_cli_appends_the_summary_to_github_step_summary(tmp_path: Path) -> None:
    facts_file = tmp_path / "facts.json"
    facts_file.write_text(facts(node("rabbit@a"), node("rabbit@b", down=True)).model_dump_json(by_alias=True))
    summary = tmp_path / "summary.md"
    summary.write_text("## earlier step\n")
    result = run_preflight("check", "--facts", str(facts_file), "--select", "PORT001", "--format", "github",
                           env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert result.returncode == 1, result.stderr
    assert result.stdout.startswith("::error title=rabbit@b PORT001 port-refused::")
    text = summary.read_text()
    assert text.startswith("## earlier step\n")
    assert "### RabbitMQ preflight: cluster `test` — ❌ FAIL" in text
    assert "| error | PORT001 port-refused | rabbit@b |" in text


def test_cli_writes_no_summary_for_other_formats(tmp_path: Path) -> None:
    facts_file = tmp_path / "facts.json"
    facts_file.write_text(facts(node("rabbit@a")).model_dump_json(by_alias=True))
    summary = tmp_path / "summary.md"
    result = run_preflight("check", "--facts", str(facts_file), "--select", "PORT001",
                           env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert result.returncode == 0, result.stderr
    assert not summary.exists()
