"""The command line as users run it: exit codes, one-line errors, light start-up."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, run_preflight
from tests.factories import facts, node


def write_facts(tmp_path: Path, *nodes: object) -> Path:
    path = tmp_path / "facts.json"
    path.write_text(facts(*nodes).model_dump_json(by_alias=True))  # type: ignore[arg-type]
    return path


def test_version_does_not_import_heavy_modules() -> None:
    code = (
        "import sys; from rabbitmq_preflight.cli import main\n"
        "sys.argv=['preflight','--version']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy=[m for m in ('pydantic','httpx','dns','apscheduler','structlog','prometheus_client','psutil')"
        " if m in sys.modules]\nprint('HEAVY', heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert "preflight 0." in out.stdout
    assert "HEAVY []" in out.stdout


def test_healthy_facts_exit_0(tmp_path: Path) -> None:
    path = write_facts(tmp_path, node("rabbit@a"), node("rabbit@b"))
    result = run_preflight("check", "--facts", str(path), "--select", "VER001,VER003,VER004,port")
    assert result.returncode == 0, result.stderr
    assert "PASS: nothing at or above error" in result.stdout


def test_version_mismatch_exits_1_and_json_report_has_the_contract_fields(tmp_path: Path) -> None:
    path = write_facts(tmp_path, node("rabbit@a", "3.12.1"), node("rabbit@b", "3.10.8"))
    result = run_preflight("check", "--facts", str(path), "--format", "json", "--select", "VER001,VER003,VER004,port")
    assert result.returncode == 1
    report = result.json()
    assert report["schema"] == "preflight.report/v1"
    assert set(report) >= {"schema", "tool", "started_at", "duration_ms", "cluster", "summary", "findings", "checks"}
    summary = report["summary"]
    assert isinstance(summary, dict) and summary["error"] == 1
    assert set(summary["checks"]) == {"pass", "fail", "unknown", "skipped"}
    findings = report["findings"]
    assert isinstance(findings, list)
    assert set(findings[0]) >= {"rule", "slug", "family", "severity", "node", "subject", "message",
                                "remediation", "evidence", "waived"}


def test_fail_on_critical_lets_errors_pass(tmp_path: Path) -> None:
    path = write_facts(tmp_path, node("rabbit@a", "3.12.1"), node("rabbit@b", "3.10.8"))
    assert run_preflight("check", "--facts", str(path), "--fail-on", "critical").returncode == 0


def test_unknown_rule_id_is_usage_error(tmp_path: Path) -> None:
    result = run_preflight("check", "--facts", str(write_facts(tmp_path, node("rabbit@a"))), "--select", "XYZ123")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "preflight: error: unknown rule, slug or family 'XYZ123' (see `preflight rules`)"
    ]


def test_malformed_inventory_is_one_line_per_problem_and_exit_2(tmp_path: Path) -> None:
    inv = tmp_path / "inv.toml"
    inv.write_text('[[nodes]]\nname = "rabbit1"\nport = 5\n')
    result = run_preflight("check", "--inventory", str(inv))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith(f"preflight: error: {inv}: nodes[0].") for line in lines)
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_missing_inventory_file_is_exit_2(tmp_path: Path) -> None:
    result = run_preflight("check", "--inventory", str(tmp_path / "nope.toml"))
    assert result.returncode == 2 and "cannot read inventory" in result.stderr


def test_garbage_facts_file_is_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "facts.json"
    bad.write_text('{"schema": "something else"}')
    result = run_preflight("check", "--facts", str(bad))
    assert result.returncode == 2 and "not a preflight facts file" in result.stderr


def test_rules_json_lists_every_rule_with_metadata() -> None:
    result = run_preflight("rules", "--format", "json")
    rows = json.loads(result.stdout)
    assert {"VER001", "PORT002"} <= {r["id"] for r in rows}
    assert all(r["rationale"] and r["remediation"] and r["severity"] for r in rows)


def test_explain_prints_rationale_and_fix_and_unknown_id_is_exit_2() -> None:
    ok = run_preflight("explain", "port-filtered")
    assert ok.returncode == 0 and "Why:" in ok.stdout and "Fix:" in ok.stdout
    assert run_preflight("explain", "NOPE1").returncode == 2


def test_merged_facts_from_two_hosts_are_judged_together(tmp_path: Path) -> None:
    a = tmp_path / "a.json"
    b = tmp_path / "b.json"
    a.write_text(facts(node("rabbit@a", "3.12.1"), hostname="hosta").model_dump_json(by_alias=True))
    b.write_text(facts(node("rabbit@b", "3.10.8"), hostname="hostb").model_dump_json(by_alias=True))
    result = run_preflight("check", "--facts", str(a), "--facts", str(b), "--format", "json", "--select", "VER001")
    report = result.json()
    assert result.returncode == 1
    assert report["origins"] == ["hosta", "hostb"]


def test_unwritable_report_path_is_a_usage_error_naming_the_path(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    path = write_facts(tmp_path, node("rabbit@a"))
    result = run_preflight("check", "--facts", str(path), "--select", "VER001",
                           "--report", f"json:{blocker}/sub/report.json")
    assert result.returncode == 2
    assert result.stderr.startswith(f"preflight: error: cannot write {blocker}/sub/report.json")
