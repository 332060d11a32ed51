"""The Erlang cookie on the real lab: handshakes accepted and rejected, file and strength findings, and
no byte of a cookie in any output, report or facts file."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Lab, run_preflight

pytestmark = pytest.mark.lab

NODES = ["rabbit@rabbit1", "rabbit@rabbit2", "rabbit@rabbit3"]


def check(lab: Lab, *args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    result = run_preflight("check", "--inventory", str(lab.inventory), "--format", "json", *args, env=env)
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, result.json()


def findings(report: dict[str, Any], rule: str) -> list[dict[str, Any]]:
    return [f for f in report["findings"] if f["rule"] == rule]


def statuses(report: dict[str, Any], rule: str) -> dict[str | None, str]:
    return {c["node"]: c["status"] for c in report["checks"] if c["rule"] == rule}


def cookie_file(tmp_path: Path, value: bytes, mode: int = 0o400, name: str = "cookie") -> Path:
    path = tmp_path / name
    path.write_bytes(value + b"\n")
    path.chmod(mode)
    return path


def test_correct_cookie_is_accepted_by_every_node_and_its_fingerprint_matches_the_cli(lab: Lab) -> None:
    code, report = check(lab, "--select", "cookie")
    assert code == 0, report["findings"]
    assert statuses(report, "COOKIE001") == {n: "pass" for n in NODES}
    facts = json.loads(run_preflight("collect", "--inventory", str(lab.inventory)).stdout)
    [view] = facts["views"]
    for name in NODES:
        hs = view["nodes"][name]["handshake"]["value"]
        assert hs["verdict"] == "accepted" and hs["remote_name"] == name and hs["name_matches"]
        assert view["nodes"][name]["ports"]["dist"]["port"] == view["nodes"][name]["dist_registration"]["value"]["port"]
    ours = view["cookie"]["sources"][0]["value"]["fingerprint"]
    cli = lab.exec("rabbit1", "rabbitmq-diagnostics", "-q", "erlang_cookie_hash")
    assert cli.stdout.strip() == ours


RABBIT3_LOG = "/var/log/rabbitmq/rabbit@rabbit3.log"


def log_since(lab: Lab, offset: int) -> str:
    return lab.exec("rabbit3", "tail", "-c", f"+{offset + 1}", RABBIT3_LOG).stdout


def wait_for_peer_rejections(lab: Lab, offset: int) -> None:
    """Until rabbit3 logs its peers' rejected attempts: its log handlers are up (early in boot they are
    not, and a rejection then goes unlogged), and the fault is in effect."""
    deadline = time.monotonic() + 90
    while "rejected. Invalid challenge reply" not in log_since(lab, offset):
        assert time.monotonic() < deadline, "rabbit3 never logged its peers' rejected connection attempts"
        time.sleep(0.5)


def test_node_with_another_cookie_is_reported_rejected_by_name(lab: Lab, tmp_path: Path) -> None:
    offset = int(lab.exec("rabbit3", "stat", "-c", "%s", RABBIT3_LOG).stdout)
    with lab.fault("cookie", "rabbit3"):
        wait_for_peer_rejections(lab, offset)
        code, report = check(lab, "--select", "cookie")
        per_host = []
        for host in ("rabbit1", "rabbit2", "rabbit3"):
            out = lab.preflight_on(host, "collect", "-i", "/etc/rabbitmq/preflight.toml", "--no-handshake")
            assert out.returncode == 0, out.stderr
            per_host.append(tmp_path / f"{host}.json")
            per_host[-1].write_text(out.stdout)
        [rejected] = findings(report, "COOKIE001")
        probe_node = rejected["evidence"]["probe_node"]
        log = log_since(lab, offset)
    assert code == 1
    assert rejected["node"] == "rabbit@rabbit3" and rejected["severity"] == "error"
    assert "rabbit@rabbit3 rejected the Erlang cookie" in rejected["message"]
    assert "rabbit@rabbit1, rabbit@rabbit2 accepted" in rejected["message"]
    assert "scp rabbit1:/var/lib/rabbitmq/.erlang.cookie rabbit3:/var/lib/rabbitmq/.erlang.cookie" in rejected[
        "remediation"]
    assert statuses(report, "COOKIE001")["rabbit@rabbit1"] == "pass"
    # the documented side effect: the node logs the rejected attempt under our probe's name
    assert f"Connection attempt from node '{probe_node}' rejected" in log
    merged = run_preflight("check", *(a for p in per_host for a in ("--facts", str(p))), "--select", "COOKIE002",
                           "--format", "json")
    merged_report: dict[str, Any] = merged.json()
    [mismatch] = merged_report["findings"]
    assert re.search(r"\S+==: rabbit@rabbit1, rabbit@rabbit2; \S+==: rabbit@rabbit3", mismatch["message"])


def test_wrong_mode_cookie_file_gives_the_mode_finding(lab: Lab, tmp_path: Path) -> None:
    lab_cookie = (lab.base / "cookie").read_bytes().strip()
    loose = cookie_file(tmp_path, lab_cookie, mode=0o644)
    code, report = check(lab, "--cookie-file", str(loose), "--select", "cookie")
    [mode] = findings(report, "COOKIE005")
    assert code == 1 and mode["subject"] == str(loose)
    assert "has mode 0644" in mode["message"] and f"chmod 400 {loose}" in mode["remediation"]
    assert statuses(report, "COOKIE001") == {n: "pass" for n in NODES}  # the value itself is right


def test_weak_cookie_gives_the_security_finding(lab: Lab, tmp_path: Path) -> None:
    weak = cookie_file(tmp_path, b"mycookie")
    code, report = check(lab, "--cookie-file", str(weak), "--no-handshake", "--select", "security,COOKIE001")
    [finding] = findings(report, "SEC001")
    assert code == 1 and finding["severity"] == "error"  # 25672 is reachable from this host
    assert "well-known value" in finding["message"] and "only 8 characters" in finding["message"]
    assert "is reachable from" in finding["message"]
    assert set(statuses(report, "COOKIE001").values()) == {"skipped"}


def test_check_on_a_node_host_sees_its_own_broker_process(lab: Lab) -> None:
    result = lab.preflight_on("rabbit2", "check", "-i", "/etc/rabbitmq/preflight.toml", "--select",
                              "cookie,security", "--format", "json")
    report = json.loads(result.stdout)
    assert result.returncode == 0, report["findings"]
    assert statuses(report, "SEC002") == {"rabbit@rabbit2": "pass"}  # a beam.smp was inspected
    assert statuses(report, "COOKIE001") == {n: "pass" for n in NODES}


def test_dropped_epmd_port_costs_one_timeout_and_the_cookie_check_is_unknown(lab: Lab) -> None:
    with lab.fault("drop-port", "rabbit2", "4369"):
        t0 = time.perf_counter()
        code, report = check(lab, "--timeout", "1", "--select", "cookie,port")
        elapsed = time.perf_counter() - t0
    assert code == 1 and elapsed < 2.5  # NAMES and PORT_PLEASE2 wait together: one 1 s timeout + start-up
    assert statuses(report, "COOKIE001")["rabbit@rabbit2"] == "unknown"
    [unknown] = [f for f in findings(report, "COOKIE001") if f["node"] == "rabbit@rabbit2"]
    assert "distribution port of rabbit@rabbit2 is unknown" in unknown["message"]


# --- secrets --------------------------------------------------------------------------------------------


def output_formats() -> list[str]:
    help_text = run_preflight("check", "--help").stdout
    match = re.search(r"--format \[([a-z|]+)\]", help_text)
    assert match is not None, help_text
    return match.group(1).split("|")


def test_no_output_format_report_or_facts_file_contains_the_cookie(lab: Lab, tmp_path: Path) -> None:
    lab_cookie = (lab.base / "cookie").read_bytes().strip()
    foreign = b"Preflight-Secret-Test-Cookie-91c4e7a2"
    env_cookie = "Preflight-Env-Cookie-5d0b3f68"
    cases = [("accepted", lab.base / "cookie"), ("rejected", cookie_file(tmp_path, foreign, name="foreign"))]
    formats = output_formats()
    assert {"text", "json"} <= set(formats)
    outputs: list[bytes] = []
    for label, path in cases:
        out_dir = tmp_path / label
        reports = [a for fmt in formats for a in ("--report", f"{fmt}:{out_dir}/report.{fmt}")]
        for fmt in formats:
            result = run_preflight("check", "-i", str(lab.inventory), "--cookie-file", str(path), "--format", fmt,
                                   "--save-facts", str(out_dir / f"facts-{fmt}.json"), *reports,
                                   env={"RABBITMQ_ERLANG_COOKIE": env_cookie})
            assert result.returncode in (0, 1) and result.stdout, (fmt, result.stderr)
            outputs += [result.stdout.encode(), result.stderr.encode()]
        collected = run_preflight("collect", "-i", str(lab.inventory), "--cookie-file", str(path),
                                  env={"RABBITMQ_ERLANG_COOKIE": env_cookie})
        assert collected.returncode == 0 and collected.stdout
        outputs += [collected.stdout.encode(), collected.stderr.encode()]
        written = run_preflight("collect", "-i", str(lab.inventory), "--cookie-file", str(path),
                                "--output", str(out_dir / "collected.json"))
        outputs += [written.stdout.encode(), written.stderr.encode()]
        files = sorted(out_dir.iterdir())
        assert len(files) == 2 * len(formats) + 1
        outputs += [f.read_bytes() for f in files]
    assert b'"verdict": "rejected"' in b"".join(outputs)  # both paths really ran
    for label, secret in [("lab", lab_cookie), ("foreign", foreign), ("env", env_cookie.encode())]:
        assert not any(secret in blob for blob in outputs), f"the {label} cookie leaked"
