"""Gate controls: durations, the wait loop (on a fake clock) and baselines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rabbitmq_preflight.gate import (
    BASELINE_SCHEMA,
    GateConfigError,
    apply_baseline,
    baseline_text,
    format_duration,
    parse_baseline,
    parse_duration,
    wait_until_pass,
)
from rabbitmq_preflight.report import Report
from tests.conftest import CommandResult, run_preflight
from tests.factories import facts, node
from tests.gating_samples import finding, sample_report


def report_of(result: CommandResult) -> Any:
    """The JSON report printed by `--format json`, for indexing without casts."""
    return json.loads(result.stdout)


# ----------------------------------------------------------------------------------------- durations


@pytest.mark.parametrize(("text", "seconds"), [
    ("90s", 90.0), ("5m", 300.0), ("1h", 3600.0), ("45", 45.0), ("2.5", 2.5), ("1m30s", 90.0),
    (" 10S ", 10.0), ("0", 0.0), ("1h2m3s", 3723.0), ("0.5s", 0.5),
])
def test_durations_people_type_in_pipelines(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5 minutes", "-5s", "1d", "m", "1.s", "5m 30s", "1e3", "9999h"])
def test_bad_durations_say_what_is_expected(text: str) -> None:
    with pytest.raises(GateConfigError, match=r"duration|longer than a week"):
        parse_duration(text)


@given(st.text(max_size=20))
def test_any_text_is_a_duration_or_a_gate_config_error(text: str) -> None:
    try:
        seconds = parse_duration(text)
    except GateConfigError:
        return
    assert 0 <= seconds <= 7 * 24 * 3600


@given(st.integers(min_value=0, max_value=7 * 24 * 3600))
def test_formatted_whole_seconds_parse_back(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


# --------------------------------------------------------------------------------------------- wait


class FakeTime:
    """A clock that only moves when the loop sleeps or an attempt takes time."""

    def __init__(self, attempt_cost: float = 0.0) -> None:
        self.now = 1000.0
        self.attempt_cost = attempt_cost
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def failing_report() -> Report:
    return sample_report(findings=[
        finding("PORT001", "port-refused", "port", "error", "rabbit@rabbit2", "tcp/5672 (amqp)"),
        finding("PORT001", "port-refused", "port", "error", "rabbit@rabbit2", "tcp/25672 (dist)"),
    ], checks=[])


def passing_report() -> Report:
    return sample_report(findings=[], checks=[])


def run_wait(reports: list[Report], wait: float, interval: float, t: FakeTime) -> tuple[Report, list[str], int]:
    lines: list[str] = []
    calls = 0

    def attempt() -> Report:
        nonlocal calls
        calls += 1
        t.now += t.attempt_cost
        return reports[min(calls, len(reports)) - 1]

    last = wait_until_pass(attempt, wait=wait, interval=interval, fail_on="error", progress=lines.append,
                           clock=t.clock, sleep=t.sleep)
    return last, lines, calls


def test_wait_returns_as_soon_as_the_gate_passes() -> None:
    t = FakeTime()
    last, lines, calls = run_wait([failing_report(), failing_report(), passing_report()], 300, 10, t)
    assert calls == 3 and last.exit_code("error") == 0
    assert t.sleeps == [10, 10]
    assert lines[0] == ("preflight: attempt 1: 2 findings at or above error "
                        "(PORT001 rabbit@rabbit2, PORT001 rabbit@rabbit2); retrying in 10s")
    assert lines[2] == "preflight: attempt 3: nothing at or above error; the gate passes after 20s"
    assert len(lines) == 3  # one line per attempt


def test_wait_gives_up_at_the_deadline_with_an_attempt_at_the_deadline_itself() -> None:
    t = FakeTime(attempt_cost=1.0)
    last, lines, calls = run_wait([failing_report()], wait=25, interval=10, t=t)
    assert last.exit_code("error") == 1
    # attempts start at 0, 11, 22 and (after a shortened pause) 25; the fourth ends past the deadline
    assert t.sleeps == [10, 10, 2]
    assert calls == 4 and len(lines) == 4
    assert lines[-1].startswith("preflight: attempt 4: 2 findings at or above error")
    assert lines[-1].endswith("giving up: --wait 25s is over")
    assert sum(t.sleeps) + calls * t.attempt_cost >= 25


def test_wait_zero_is_a_single_attempt() -> None:
    t = FakeTime()
    _, lines, calls = run_wait([failing_report(), passing_report()], wait=0, interval=10, t=t)
    assert calls == 1 and t.sleeps == [] and "giving up" in lines[0]


def test_progress_line_names_at_most_three_findings() -> None:
    many = sample_report(findings=[finding("PORT001", "port-refused", "port", "error", f"rabbit@n{i}", str(i))
                                   for i in range(5)], checks=[])
    _, lines, _ = run_wait([many, passing_report()], 60, 5, FakeTime())
    assert lines[0] == ("preflight: attempt 1: 5 findings at or above error "
                        "(PORT001 rabbit@n0, PORT001 rabbit@n1, PORT001 rabbit@n2, …); retrying in 5s")


# ----------------------------------------------------------------------------------------- baseline


def test_baseline_records_identities_but_not_waived_findings_nor_blind_spots() -> None:
    report = sample_report()
    doc = json.loads(baseline_text(report))
    assert doc["schema"] == BASELINE_SCHEMA and doc["cluster"] == "prod"
    identities = parse_baseline(baseline_text(report), "b.json")
    assert identities == {f.identity for f in report.findings if not f.waived and f.outcome == "fail"}
    assert "PORT001|rabbit@b|tcp/5672 (amqp)" in identities
    assert not any(i.startswith(("PORT002|", "VER003|")) for i in identities)  # waived; could not check


def test_baseline_marks_recorded_findings_and_the_gate_ignores_them() -> None:
    old = finding("PORT001", "port-refused", "port", "error", "rabbit@b", "tcp/5672 (amqp)", message="old text")
    report = sample_report(findings=[old], checks=[])
    identities = parse_baseline(baseline_text(report), "b.json")
    new = finding("PORT001", "port-refused", "port", "error", "rabbit@c", "tcp/5672 (amqp)")
    reworded = old.model_copy(update={"message": "the message changed: 2 ms slower"})
    marked = apply_baseline(sample_report(findings=[reworded, new], checks=[]), identities)
    assert [(f.node, f.baseline) for f in marked.findings] == [("rabbit@b", True), ("rabbit@c", False)]
    assert marked.summary.baseline == 1 and marked.summary.error == 1
    assert [f.node for f in marked.failing("error")] == ["rabbit@c"]


def test_a_waived_finding_stays_waived_and_an_unverified_check_still_fails() -> None:
    report = sample_report()
    marked = apply_baseline(report, frozenset(f.identity for f in report.findings))
    waived = next(f for f in marked.findings if f.waived)
    assert waived.baseline is False and marked.summary.waived == 1
    assert [(f.rule, f.outcome) for f in marked.failing("info")] == [("VER003", "unknown")]


@pytest.mark.parametrize(("text", "message"), [
    ("not json", "invalid JSON"),
    ('{"schema": "preflight.report/v1", "findings": []}', "expected \"schema\""),
    ('[1, 2]', "expected \"schema\""),
    (f'{{"schema": "{BASELINE_SCHEMA}", "findings": {{}}}}', "findings: expected a list"),
    (f'{{"schema": "{BASELINE_SCHEMA}", "findings": [{{"rule": "X"}}]}}', r"findings\[0\].identity"),
])
def test_bad_baseline_files_are_named_with_the_problem(text: str, message: str) -> None:
    with pytest.raises(GateConfigError, match=rf"^ci/baseline.json: .*{message}"):
        parse_baseline(text, "ci/baseline.json")


# ------------------------------------------------------------------------------- baseline, end to end


def facts_file(tmp_path: Path, name: str, *down: str) -> Path:
    nodes = [node(n, down=n in down) for n in ("rabbit@a", "rabbit@b", "rabbit@c")]
    path = tmp_path / f"{name}.json"
    path.write_text(facts(*nodes).model_dump_json(by_alias=True))
    return path


def gate(*args: str) -> CommandResult:
    return run_preflight("check", "--select", "PORT001", "--format", "json", *args)


def test_write_baseline_records_todays_findings_and_passes(tmp_path: Path) -> None:
    baseline = tmp_path / "ci" / "baseline.json"
    result = gate("--facts", str(facts_file(tmp_path, "today", "rabbit@b")), "--write-baseline", str(baseline))
    assert result.returncode == 0, result.stderr
    [refused] = report_of(result)["findings"]
    assert refused["baseline"] is True and refused["node"] == "rabbit@b"
    assert parse_baseline(baseline.read_text(), "b") == {"PORT001|rabbit@b|tcp/5672 (amqp)"}


def test_baseline_suppresses_old_findings_and_reports_new_ones(tmp_path: Path) -> None:
    baseline = tmp_path / "baseline.json"
    gate("--facts", str(facts_file(tmp_path, "today", "rabbit@b")), "--write-baseline", str(baseline))
    same = gate("--facts", str(facts_file(tmp_path, "same", "rabbit@b")), "--baseline", str(baseline))
    assert same.returncode == 0, same.stdout
    worse = gate("--facts", str(facts_file(tmp_path, "worse", "rabbit@b", "rabbit@c")), "--baseline", str(baseline))
    assert worse.returncode == 1
    report = report_of(worse)
    marks = {f["node"]: f["baseline"] for f in report["findings"]}
    assert marks == {"rabbit@b": True, "rabbit@c": False}
    assert report["summary"]["baseline"] == 1 and report["summary"]["error"] == 1


def test_unreadable_baseline_is_a_config_error(tmp_path: Path) -> None:
    result = gate("--facts", str(facts_file(tmp_path, "f")), "--baseline", str(tmp_path / "missing.json"))
    assert result.returncode == 2
    assert result.stderr == f"preflight: error: {tmp_path / 'missing.json'}: cannot read baseline: " \
                            "No such file or directory\n"
