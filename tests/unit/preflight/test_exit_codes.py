"""Exit codes a pipeline gates on: --fail-on, --unknown-as, waivers, configuration errors, reports.

Every case runs the real CLI on saved facts (no network): 0 nothing at or above --fail-on,
1 findings at or above it, 2 a configuration or usage error, with one line naming the problem.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from rabbitmq_preflight.facts import NodeFacts
from rabbitmq_preflight.report import Report
from tests.conftest import CommandResult, run_preflight
from tests.factories import facts, node
from tests.gating_samples import finding, sample_report

RULES = ("--select", "VER001,PORT001")

SCENARIOS: dict[str, list[NodeFacts]] = {
    "clean": [node("rabbit@a", "3.13.7"), node("rabbit@b", "3.13.7")],
    # a patch release behind: VER001 at info
    "info": [node("rabbit@a", "3.13.7"), node("rabbit@b", "3.13.7"), node("rabbit@c", "3.13.1")],
    # a rolling upgrade 3.12 → 3.13 in progress: VER001 at warning
    "warning": [node("rabbit@a", "3.13.7"), node("rabbit@b", "3.13.7"), node("rabbit@c", "3.12.14")],
    # a stopped node: PORT001 at error, and its version is unknown (VER001 unknown, at error too)
    "error": [node("rabbit@a", "3.13.7"), node("rabbit@b", down=True)],
    "two-down": [node("rabbit@a", "3.13.7"), node("rabbit@b", down=True), node("rabbit@c", down=True)],
}


def report_of(result: CommandResult) -> Any:
    """The JSON report printed by `--format json`, for indexing without casts."""
    return json.loads(result.stdout)


def write_facts(tmp_path: Path, scenario: str) -> Path:
    path = tmp_path / f"{scenario}.json"
    path.write_text(facts(*SCENARIOS[scenario]).model_dump_json(by_alias=True))
    return path


def check(tmp_path: Path, scenario: str, *args: str, rules: tuple[str, ...] = RULES) -> CommandResult:
    return run_preflight("check", "--facts", str(write_facts(tmp_path, scenario)), *rules, *args)


@pytest.mark.parametrize(("scenario", "fail_on", "expected"), [
    ("clean", "info", 0),
    ("info", "info", 1), ("info", "warning", 0),
    ("warning", "info", 1), ("warning", "warning", 1), ("warning", "error", 0),
    ("error", "warning", 1), ("error", "error", 1), ("error", "critical", 0),
])
def test_exit_code_follows_fail_on(tmp_path: Path, scenario: str, fail_on: str, expected: int) -> None:
    result = check(tmp_path, scenario, "--fail-on", fail_on)
    assert result.returncode == expected, result.stdout + result.stderr


def test_default_fail_on_is_error(tmp_path: Path) -> None:
    assert check(tmp_path, "warning").returncode == 0
    assert check(tmp_path, "error").returncode == 1


def test_a_critical_finding_fails_every_level() -> None:
    report = sample_report(findings=[finding("PORT003", "port-unreachable", "port", "critical", "rabbit@a")],
                           checks=[])
    assert [report.exit_code(level) for level in ("info", "warning", "error", "critical")] == [1, 1, 1, 1]


def test_a_finding_at_the_floor_fails_and_below_it_passes() -> None:
    def of(severity: str) -> Report:
        return sample_report(findings=[finding("VER001", "version-mismatch", "version",
                                               severity, "rabbit@a")], checks=[])  # type: ignore[arg-type]

    assert of("critical").exit_code("critical") == 1 and of("error").exit_code("critical") == 0


# ------------------------------------------------------------------------------------- --unknown-as


def unknown_version(tmp_path: Path) -> Path:
    path = tmp_path / "unknown.json"
    path.write_text(facts(node("rabbit@a", "3.13.7"), node("rabbit@b", None)).model_dump_json(by_alias=True))
    return path


def test_an_unverified_check_fails_the_gate_by_default(tmp_path: Path) -> None:
    result = run_preflight("check", "--facts", str(unknown_version(tmp_path)), "--select", "VER001")
    assert result.returncode == 1
    assert "could not be checked for rabbit@b" in result.stdout


@pytest.mark.parametrize(("unknown_as", "fail_on", "expected"), [
    ("warning", "error", 0), ("warning", "warning", 1), ("error", "error", 1),
])
def test_unknown_as_sets_the_severity_of_unverified_checks(tmp_path: Path, unknown_as: str, fail_on: str,
                                                           expected: int) -> None:
    result = run_preflight("check", "--facts", str(unknown_version(tmp_path)), "--select", "VER001",
                           "--unknown-as", unknown_as, "--fail-on", fail_on, "--format", "json")
    assert result.returncode == expected
    [f] = report_of(result)["findings"]
    assert f["severity"] == unknown_as and f["outcome"] == "unknown"


# ------------------------------------------------------------------------------------------- waivers


def inventory(tmp_path: Path, waiver: str, nodes: tuple[str, ...] = ("rabbit@a", "rabbit@b")) -> Path:
    path = tmp_path / "inventory.toml"
    blocks = [f'[[nodes]]\nname = "{n}"\naddress = "127.0.0.1"\namqp_port = 1\n' for n in nodes]
    path.write_text('[cluster]\nname = "test"\n\n' + "\n".join(blocks) + "\n" + waiver)
    return path


def waiver(rule: str = "port-refused", node: str | None = "rabbit@b", reason: str | None = "CHG-1234 pending",
           expires: str | None = "2099-12-31") -> str:
    lines = ["[[waivers]]", f'rule = "{rule}"']
    lines += [f'node = "{node}"'] if node else []
    lines += [f'reason = "{reason}"'] if reason is not None else []
    lines += [f"expires = {expires}"] if expires else []
    return "\n".join(lines) + "\n"


def check_waived(tmp_path: Path, waiver_text: str, scenario: str = "error") -> CommandResult:
    return check(tmp_path, scenario, "--inventory", str(inventory(tmp_path, waiver_text)), "--format", "json",
                 rules=("--select", "PORT001"))


@pytest.mark.parametrize("rule", ["PORT001", "port-refused", "port"])
def test_active_waiver_by_id_slug_or_family_lets_the_gate_pass(tmp_path: Path, rule: str) -> None:
    result = check_waived(tmp_path, waiver(rule=rule))
    report = report_of(result)
    assert result.returncode == 0, result.stderr
    refused = [f for f in report["findings"] if f["rule"] == "PORT001"]
    assert refused and all(f["waived"] and f["waiver_reason"] == "CHG-1234 pending" for f in refused)
    assert report["summary"]["waived"] == len(refused)


def test_waiver_for_one_node_does_not_waive_another(tmp_path: Path) -> None:
    result = check_waived(tmp_path, waiver(), scenario="two-down")
    assert result.returncode == 1
    failing = {f["node"] for f in report_of(result)["findings"]
               if f["rule"] == "PORT001" and not f["waived"]}
    assert failing == {"rabbit@c"}


def test_expired_waiver_stops_waiving_and_is_reported(tmp_path: Path) -> None:
    result = check_waived(tmp_path, waiver(expires="2020-01-01"))
    assert result.returncode == 1
    findings = report_of(result)["findings"]
    assert not any(f["waived"] for f in findings)
    [expired] = [f for f in findings if f["rule"] == "WAIVER001"]
    assert expired["severity"] == "warning" and expired["node"] == "rabbit@b"
    assert "expired on 2020-01-01" in expired["message"] and "CHG-1234 pending" in expired["message"]


@pytest.mark.parametrize(("text", "key"), [
    (waiver(reason=None), "waivers[0].reason"),
    (waiver(reason=""), "waivers[0].reason"),
    (waiver(reason="   "), "waivers[0].reason"),
    (waiver(expires=None), "waivers[0].expires"),
    (waiver(expires='"someday"'), "waivers[0].expires"),
    (waiver(rule="port-refuzed"), "waivers[0].rule"),
])
def test_incomplete_waiver_is_a_config_error_naming_file_and_key(tmp_path: Path, text: str, key: str) -> None:
    result = check_waived(tmp_path, text)
    assert result.returncode == 2, result.stdout + result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith(f"preflight: error: {tmp_path / 'inventory.toml'}: {key}")
    assert result.stdout == ""


def test_unknown_waiver_rule_is_rejected_before_probing_on_the_inventory_path(tmp_path: Path) -> None:
    # the nodes point at a closed local port: had the check probed them, it would exit 1, not 2
    result = run_preflight("check", "--inventory", str(inventory(tmp_path, waiver(rule="COOKIE999"))))
    assert result.returncode == 2
    assert "waivers[0].rule: unknown rule, slug or family 'COOKIE999'" in result.stderr


# ------------------------------------------------------------------------------- usage and reports


@pytest.mark.parametrize(("args", "message"), [
    (("--wait", "5 minutes"), "Invalid value for '--wait'"),
    (("--wait", "1m", "--interval", "0"), "Invalid value for '--interval'"),
    (("--wait", "1m"), "--wait re-probes the cluster; it cannot be used with --facts"),
    (("--baseline", "a.json", "--write-baseline", "b.json"), "give --baseline or --write-baseline, not both"),
    (("--report", "pdf:out.pdf"), "--report 'pdf:out.pdf': expected FORMAT:PATH"),
    (("--select", "NOPE001"), "unknown rule, slug or family 'NOPE001'"),
])
def test_usage_errors_exit_2_with_one_line(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    result = run_preflight("check", "--facts", str(write_facts(tmp_path, "clean")), *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr and len(result.stderr.splitlines()) == 1


def test_report_option_writes_every_format_beside_the_text_output(tmp_path: Path) -> None:
    out = tmp_path / "out"
    specs = [f"--report={fmt}:{out / name}" for fmt, name in
             [("json", "r.json"), ("sarif", "r.sarif"), ("junit", "r.xml"), ("github", "r.txt"), ("text", "r.log")]]
    result = check(tmp_path, "error", *specs)
    assert result.returncode == 1
    assert "FAIL: 2 finding(s) at or above error" in result.stdout  # text on stdout
    assert json.loads((out / "r.json").read_text())["schema"] == "preflight.report/v1"
    sarif = json.loads((out / "r.sarif").read_text())
    assert sarif["runs"][0]["invocations"][0]["exitCode"] == 1
    assert [r["ruleId"] for r in sarif["runs"][0]["results"]] == ["PORT001", "VER001"]
    junit = ET.parse(out / "r.xml").getroot()
    assert (junit.get("failures"), junit.get("skipped")) == ("1", "1")  # the refusal; the unknown version
    assert (out / "r.txt").read_text().startswith("::error title=rabbit@b PORT001 port-refused::")
    assert "FAIL: 2 finding(s)" in (out / "r.log").read_text()
