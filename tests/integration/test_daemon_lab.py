"""`preflight daemon` against the real lab cluster: audit records, drift, restart, signals, crash, HTTP.

The daemon runs as a subprocess with a 1-second interval and writes its audit log to a file; every
wait polls that file with a bounded deadline. The lab's inventory is copied first, so a test can
break its copy without touching the lab's.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Lab
from tests.daemon_support import Daemon, Record, assert_documented, http_get, start_daemon

pytestmark = pytest.mark.lab

NODE2 = "rabbit@rabbit2"


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    started: list[Daemon] = []
    yield started
    for d in started:
        d.stop()


def lab_inventory(lab: Lab, tmp: Path) -> Path:
    copy = tmp / "inventory.toml"
    shutil.copyfile(lab.inventory, copy)
    return copy


def start(tmp: Path, inventory: Path, daemons: list[Daemon], name: str = "audit.jsonl", *extra: str) -> Daemon:
    d = start_daemon(tmp, "-i", str(inventory), "--interval", "1s", "--state-dir", str(tmp / "state"),
                     "--listen", "127.0.0.1:0", *extra, name=name)
    daemons.append(d)
    return d


def about_node2(rec: Record, event: str) -> bool:
    """A failed check on rabbit2 (not a transient unknown: while a node shuts down its metrics vanish
    before it is reported stopped, and the health rules honestly say unknown for a run or two)."""
    return bool(rec["event"] == event and rec["finding"]["node"] == NODE2
                and " could not be checked for " not in rec["finding"]["message"])


def wait_health(base: str, code: int, timeout: float = 15.0) -> dict[str, Any]:
    """Poll /healthz until it answers `code` (it follows the run just logged within milliseconds)."""
    deadline = time.monotonic() + timeout
    seen: tuple[int, str, str] = (0, "", "")
    while time.monotonic() < deadline:
        seen = http_get(base + "/healthz")
        if seen[0] == code:
            assert seen[1] == "application/json"
            body: dict[str, Any] = json.loads(seen[2])
            return body
        time.sleep(0.1)
    raise AssertionError(f"/healthz never answered {code} within {timeout}s; last: {seen[0]} {seen[2]}")


def metric_samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_daemon_audits_the_lab_tracks_drift_and_keeps_its_baseline_across_restart(
    lab: Lab, tmp_path: Path, daemons: list[Daemon]
) -> None:
    inv = lab_inventory(lab, tmp_path)
    d = start(tmp_path, inv, daemons)
    base = d.listen_url()
    runs = [d.wait_event("audit.run") for _ in range(3)]
    for rec in d.records():
        assert_documented(rec)
    assert len({r["run_id"] for r in runs}) == 3
    assert all(r["cluster"] == "lab" and r["report_schema"] == "preflight.report/v1" for r in runs)
    findings, checks = d.run_details(runs[-1])
    assert all(c["status"] in ("pass", "fail", "unknown", "skipped") for c in checks)
    assert runs[-1]["failing"] == 0, [f["message"] for f in findings]

    health = wait_health(base, 200)
    assert health["status"] == "ok" and health["last_run"]["run_id"] in {r.get("run_id") for r in d.records()}

    with lab.fault("stop", "rabbit2"):
        new = d.wait_for("audit.finding.new for rabbit2", lambda r: about_node2(r, "audit.finding.new"))
        assert_documented(new)
        assert new["identity"].split("|")[1] == NODE2
        health = wait_health(base, 503)
        assert health["status"] == "unhealthy"
        assert any(NODE2 in reason for reason in health["reasons"])
        samples = metric_samples(http_get(base + "/metrics")[2])
        assert samples[("preflight_findings", (("rule", new["finding"]["rule"]),
                                               ("severity", new["finding"]["severity"])))] >= 1
    resolved = d.wait_event("audit.finding.resolved", timeout=60, identity=new["identity"])
    assert_documented(resolved)
    assert resolved["first_run_id"] == new["run_id"] and resolved["finding"]["node"] == NODE2
    quiet = d.wait_for("a clean run after healing", lambda r: r["event"] == "audit.run" and r["failing"] == 0)

    samples = metric_samples(http_get(base + "/metrics")[2])
    assert samples[("preflight_runs_total", ())] >= 5
    assert samples[("preflight_last_run_duration_seconds", ())] > 0
    assert samples[("preflight_last_run_timestamp_seconds", ())] > 0
    assert samples[("preflight_healthy", ())] in (0, 1)

    d.signal(signal.SIGTERM)
    assert d.wait_exit(timeout=5) == 0
    assert d.records()[-1]["event"] == "audit.stop"

    again = start(tmp_path, inv, daemons, "restarted.jsonl")
    assert again.wait_event("audit.start")["previous_run_id"] is not None
    for _ in range(3):
        again.wait_event("audit.run")
    assert [r["identity"] for r in again.records() if r["event"] == "audit.finding.new"] == []
    assert again.records()[0]["previous_run_id"] >= quiet["run_id"]


def test_sighup_with_a_broken_inventory_is_an_audit_error_and_the_daemon_keeps_auditing(
    lab: Lab, tmp_path: Path, daemons: list[Daemon]
) -> None:
    inv = lab_inventory(lab, tmp_path)
    d = start(tmp_path, inv, daemons)
    d.wait_event("audit.run")
    inv.write_text(inv.read_text().replace("[[nodes]]", "[[nodez]]", 1))
    d.signal(signal.SIGHUP)
    err = d.wait_event("audit.error", stage="reload")
    assert_documented(err)
    assert str(inv) in err["reason"] and "still using the previous one" in err["reason"]
    assert d.wait_event("audit.run")["checks_count"] > 0
    assert d.proc.poll() is None
    d.signal(signal.SIGTERM)
    assert d.wait_exit(timeout=5) == 0
    assert d.records()[-1]["event"] == "audit.stop"


def test_kill_9_mid_run_leaves_only_complete_json_lines_and_a_usable_state(
    lab: Lab, tmp_path: Path, daemons: list[Daemon]
) -> None:
    inv = lab_inventory(lab, tmp_path)
    # A dropped port makes every run wait out the probe timeout (2 s) on a 1 s interval: runs go
    # back to back, so the daemon is always in the middle of one.
    with lab.fault("drop-port", "rabbit2", "5672"):
        d = start(tmp_path, inv, daemons)
        d.wait_event("audit.run")
        d.wait_for("the second run's records", lambda r: r["event"] == "audit.run")
        d.proc.send_signal(signal.SIGKILL)
        d.proc.wait(timeout=10)
    raw = d.audit.read_bytes()
    assert raw.endswith(b"\n")
    for line in raw.splitlines():
        assert_documented(json.loads(line))
    assert json.loads((tmp_path / "state" / "last-run.json").read_text())["schema"] == "preflight.state/v1"

    after = start(tmp_path, inv, daemons, "after-crash.jsonl")
    after.wait_event("audit.run")
    assert not [r for r in after.records() if r["event"] == "audit.error" and r["stage"] == "state"]
    assert [p for p in os.listdir(tmp_path / "state") if p.endswith(".tmp")] == []
