"""A fleet in one daemon: every cluster its own job, state and health; one audit log whose records name
the cluster; metrics labelled by cluster; and a cluster whose run hangs never delays another's."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

import rabbitmq_preflight.service.daemon as daemon_mod
from rabbitmq_preflight.errors import UsageError
from rabbitmq_preflight.inventory import Inventory
from rabbitmq_preflight.pipeline import CheckRun
from rabbitmq_preflight.report import Finding, Report
from rabbitmq_preflight.service.auditlog import open_audit_log
from rabbitmq_preflight.service.daemon import DaemonConfigError, DaemonOptions
from rabbitmq_preflight.service.fleet import build_fleet, inventory_files, state_subdir
from rabbitmq_preflight.service.health import HealthServer
from rabbitmq_preflight.service.notify import Notifier
from rabbitmq_preflight.service.schedule import Schedule
from tests.conftest import run_preflight
from tests.daemon_support import http_get
from tests.factories import facts, node

WAIT = 30.0  # generous: only a broken fleet ever waits this long


def write_inventory(where: Path, cluster: str, node_name: str = "rabbit@rabbit1") -> Path:
    path = where / f"{cluster}.toml"
    path.write_text(f'[cluster]\nname = "{cluster}"\n\n[[nodes]]\nname = "{node_name}"\n')
    return path


def fake_run(inv: Inventory) -> CheckRun:
    name = inv.nodes[0].name
    findings = [Finding(rule="PORT001", slug="port-refused", family="port", severity="error", node=name,
                        subject="tcp/5672 (amqp)", message=f"{name} refused", remediation="start it")]
    report = Report.build(cluster=inv.cluster.name, inventory=inv.source, started_at=dt.datetime.now(dt.UTC),
                          findings=findings if inv.cluster.name == "red" else [], checks=[], collect_ms=3.0,
                          rules_ms=1.0, origins=["vm"])
    return CheckRun(facts=facts(node(name)), report=report)


def options(tmp_path: Path) -> DaemonOptions:
    return DaemonOptions(inventory_path=tmp_path / "unused.toml", schedule=Schedule(interval=0.1),
                         state_dir=tmp_path / "state", audit_log=str(tmp_path / "audit.jsonl"), stop_timeout=5.0)


def records(tmp_path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]


def test_a_hanging_cluster_never_delays_the_others(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = [write_inventory(tmp_path, name) for name in ("slow", "green", "red")]
    release, slow_started = threading.Event(), threading.Event()
    runs: dict[str, int] = {"green": 0, "red": 0, "slow": 0}
    both_ran_twice = threading.Event()
    lock = threading.Lock()

    def judge(inv: Inventory, *args: Any, **kwargs: Any) -> CheckRun:
        name = inv.cluster.name
        if name == "slow":
            slow_started.set()
            assert release.wait(WAIT), "never released"
        with lock:
            runs[name] += 1
            if runs["green"] >= 2 and runs["red"] >= 2:
                both_ran_twice.set()
        return fake_run(inv)

    monkeypatch.setattr(daemon_mod, "judge", judge)
    fleet, startup = build_fleet(options(tmp_path), paths, open_audit_log(str(tmp_path / "audit.jsonl")),
                                 Notifier({}))
    scheduler = fleet.start(startup)
    try:
        assert slow_started.wait(WAIT)
        assert both_ran_twice.wait(WAIT), f"the other clusters were held up: {runs}"
        assert runs["slow"] == 0  # still hanging while the others went on
    finally:
        release.set()
        fleet.stop(scheduler, "test")
    recs = records(tmp_path)
    assert all(r.get("cluster") in ("slow", "green", "red") for r in recs), recs
    assert sorted(r["cluster"] for r in recs if r["event"] == "audit.start") == ["green", "red", "slow"]
    assert sorted(r["cluster"] for r in recs if r["event"] == "audit.stop") == ["green", "red", "slow"]
    assert {r["cluster"] for r in recs if r["event"] == "audit.run"} >= {"green", "red"}
    assert {r["cluster"] for r in recs if r["event"] == "audit.finding.new"} == {"red"}
    start = next(r for r in recs if r["event"] == "audit.start")
    assert start["fleet"] == ["green", "red", "slow"] and start["inventory"].endswith(".toml")
    for name in ("green", "red"):  # each its own drift state
        assert (tmp_path / "state" / name).is_dir()


def test_metrics_health_and_report_per_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = [write_inventory(tmp_path, name) for name in ("green", "red")]
    monkeypatch.setattr(daemon_mod, "judge", lambda inv, *a, **k: fake_run(inv))
    fleet, _ = build_fleet(options(tmp_path), paths, open_audit_log(str(tmp_path / "audit.jsonl")), Notifier({}))
    for member in fleet.members.values():
        member.run_once()
    server = HealthServer("127.0.0.1", 0, fleet.status)
    server.start()
    try:
        base = f"http://{server.address}"
        code, _, body = http_get(base + "/healthz")
        health = json.loads(body)
        assert code == 503 and health["clusters"]["green"]["status"] == "ok"
        assert [r.split(":")[0] for r in health["reasons"]] == ["red"]
        samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
                   for family in text_string_to_metric_families(http_get(base + "/metrics")[2])
                   for s in family.samples}
        assert samples[("preflight_findings", (("cluster", "red"), ("rule", "PORT001"), ("severity", "error")))] == 1
        assert samples[("preflight_healthy", (("cluster", "green"),))] == 1
        assert samples[("preflight_healthy", (("cluster", "red"),))] == 0
        assert samples[("preflight_runs_total", (("cluster", "green"),))] == 1
        code, _, index = http_get(base + "/report")
        assert code == 200 and 'href="/report/green"' in index and 'data-cluster="red" data-healthy="false"' in index
        code, ctype, page = http_get(base + "/report/red")
        assert (code, ctype) == (200, "text/html; charset=utf-8") and 'data-verdict="fail"' in page
        assert http_get(base + "/report/nope")[0] == 404
    finally:
        server.stop()


def test_two_inventories_of_one_cluster_name_are_refused_together(tmp_path: Path) -> None:
    a = write_inventory(tmp_path, "prod")
    other = tmp_path / "other"
    other.mkdir()
    b = write_inventory(other, "prod")
    with pytest.raises(DaemonConfigError) as caught:
        build_fleet(options(tmp_path), [a, b], open_audit_log(str(tmp_path / "audit.jsonl")), Notifier({}))
    assert "cluster 'prod' is already audited from" in caught.value.lines[0]


def test_a_directory_is_its_toml_files_in_order(tmp_path: Path) -> None:
    for name in ("b", "a", ".hidden"):
        write_inventory(tmp_path, name)
    (tmp_path / "notes.txt").write_text("not an inventory")
    assert [p.name for p in inventory_files([tmp_path])] == ["a.toml", "b.toml"]
    with pytest.raises(UsageError):
        inventory_files([tmp_path / "a.toml", tmp_path])  # a.toml twice
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UsageError):
        inventory_files([empty])


def test_state_directories_are_safe_names() -> None:
    assert state_subdir("prod-eu.1") == "prod-eu.1"
    assert state_subdir("../../etc") == "_.._etc"
    assert state_subdir("a b/c") == "a_b_c"


def test_the_command_line_refuses_a_fleet_with_a_broken_inventory(tmp_path: Path) -> None:
    write_inventory(tmp_path, "good")
    (tmp_path / "bad.toml").write_text("[cluster\n")
    result = run_preflight("daemon", "-i", str(tmp_path), "--state-dir", str(tmp_path / "state"))
    assert result.returncode == 2 and "bad.toml" in result.stderr


def test_the_fleet_as_a_process_logs_documented_records_per_cluster_reloads_and_stops(tmp_path: Path) -> None:
    import signal as signals
    import socket

    from tests.daemon_support import assert_documented, start_daemon

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        refused = int(s.getsockname()[1])
    fleet_dir = tmp_path / "clusters"
    fleet_dir.mkdir()
    for name in ("east", "west"):
        (fleet_dir / f"{name}.toml").write_text(
            f'[cluster]\nname = "{name}"\nprobe_timeout = 0.5\ndeadline = 2.0\n\n[[nodes]]\n'
            f'name = "rabbit@localhost"\naddress = "127.0.0.1"\namqp_port = {refused}\nepmd_port = {refused}\n')
    d = start_daemon(tmp_path, "-i", str(fleet_dir), "--interval", "1s", "--state-dir", str(tmp_path / "state"),
                     "--listen", "127.0.0.1:0")
    try:
        base = d.listen_url()
        def of(event: str, name: str) -> Callable[[dict[str, Any]], bool]:
            return lambda r: r["event"] == event and r["cluster"] == name

        for event in ("audit.run", "audit.reload"):
            for name in ("east", "west"):
                d.wait_for(f"{event} of {name}", of(event, name), since=0)
            if event == "audit.run":
                d.signal(signals.SIGHUP)
        samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
                   for family in text_string_to_metric_families(http_get(base + "/metrics")[2])
                   for s in family.samples}
        assert samples[("preflight_runs_total", (("cluster", "east"),))] >= 1
        assert samples[("preflight_runs_total", (("cluster", "west"),))] >= 1
        d.signal(signals.SIGTERM)
        assert d.wait_exit(timeout=30) == 0
    finally:
        d.stop()
    recs = d.records()
    for rec in recs:
        assert_documented(rec)
        assert rec["cluster"] in ("east", "west"), rec
    assert sorted(r["cluster"] for r in recs if r["event"] == "audit.stop") == ["east", "west"]
    assert recs[-1]["event"] == "audit.stop"
