"""Drift between runs: identity is rule + node + subject, and the state file survives crashes."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest

from rabbitmq_preflight.contract import Severity
from rabbitmq_preflight.report import Finding, Report
from rabbitmq_preflight.service.drift import STATE_FILE, StateError, StateStore, compute_drift

T0 = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)


def finding(rule: str = "PORT001", node: str | None = "rabbit@rabbit2", subject: str = "tcp/5672 (amqp)",
            message: str = "refused", severity: Severity = "error") -> Finding:
    return Finding(rule=rule, slug=rule.lower(), family="port", severity=severity,
                   node=node, subject=subject, message=message, remediation="start it")


def report(*findings: Finding) -> Report:
    return Report.build(cluster="lab", inventory="inv.toml", started_at=T0, findings=list(findings),
                        checks=[], collect_ms=1.0, rules_ms=1.0, origins=["checker"])


def test_first_run_reports_every_finding_as_new() -> None:
    drift = compute_drift(None, report(finding(), finding(node="rabbit@rabbit3")), "run-1", T0)
    assert [ident for ident, _ in drift.new] == [
        "PORT001|rabbit@rabbit2|tcp/5672 (amqp)", "PORT001|rabbit@rabbit3|tcp/5672 (amqp)",
    ]
    assert drift.resolved == []


def test_changed_message_is_not_drift_but_the_state_keeps_the_latest_message() -> None:
    first = compute_drift(None, report(finding(message="refused after 1.2 ms")), "run-1", T0)
    later = T0 + dt.timedelta(minutes=5)
    second = compute_drift(first.state, report(finding(message="refused after 3.4 ms")), "run-2", later)
    assert second.new == [] and second.resolved == []
    [known] = second.state.findings.values()
    assert known.message == "refused after 3.4 ms"
    assert (known.first_run_id, known.first_seen) == ("run-1", T0)


def test_different_subject_on_the_same_node_is_a_new_finding() -> None:
    first = compute_drift(None, report(finding()), "run-1", T0)
    second = compute_drift(first.state, report(finding(), finding(subject="tcp/4369 (epmd)")), "run-2", T0)
    assert [ident for ident, _ in second.new] == ["PORT001|rabbit@rabbit2|tcp/4369 (epmd)"]


def test_vanished_finding_is_resolved_with_what_was_last_seen() -> None:
    first = compute_drift(None, report(finding(), finding(rule="VER001", subject="version")), "run-1", T0)
    second = compute_drift(first.state, report(finding(rule="VER001", subject="version")), "run-2", T0)
    [(identity, known)] = second.resolved
    assert identity == "PORT001|rabbit@rabbit2|tcp/5672 (amqp)"
    assert known.public()["node"] == "rabbit@rabbit2"
    assert known.first_run_id == "run-1"
    assert list(second.state.findings) == ["VER001|rabbit@rabbit2|version"]


def test_state_round_trips_through_the_store(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state")
    store.prepare()
    assert store.load() is None
    drift = compute_drift(None, report(finding()), "run-1", T0)
    store.save(drift.state)
    loaded = store.load()
    assert loaded == drift.state
    again = compute_drift(loaded, report(finding()), "run-2", T0)
    assert again.new == [] and again.resolved == []


def test_failed_rename_leaves_the_previous_state_intact_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = StateStore(tmp_path)
    store.prepare()
    old = compute_drift(None, report(finding()), "run-1", T0).state
    store.save(old)

    def crash(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    new = compute_drift(old, report(), "run-2", T0).state
    with pytest.raises(StateError, match="No space left on device"):
        store.save(new)
    assert store.load() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == [STATE_FILE]


def test_temp_files_left_by_a_crash_are_swept_at_start(tmp_path: Path) -> None:
    (tmp_path / ".last-run.abc123.tmp").write_text('{"half": ')
    StateStore(tmp_path).prepare()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("content", [b"", b"{not json", b'{"schema": "preflight.state/v1"}', b"\xff\xfe"])
def test_unusable_state_file_is_a_typed_error_naming_the_file(tmp_path: Path, content: bytes) -> None:
    (tmp_path / STATE_FILE).write_bytes(content)
    with pytest.raises(StateError) as exc:
        StateStore(tmp_path).load()
    assert STATE_FILE in exc.value.reason


def test_state_file_is_versioned_json(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    store.save(compute_drift(None, report(finding()), "run-1", T0).state)
    data = json.loads((tmp_path / STATE_FILE).read_text())
    assert data["schema"] == "preflight.state/v1"
    assert data["run_id"] == "run-1"
    assert "PORT001|rabbit@rabbit2|tcp/5672 (amqp)" in data["findings"]
