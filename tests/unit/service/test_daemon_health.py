"""The daemon audits health like any other family: a memory alarm that appears and clears is drift.

Each scheduled run really judges facts (the pipeline's `judge` over a saved facts file instead of the
live probe): healthy, then rabbit@b over its memory watermark, then healthy again.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import rabbitmq_preflight.service.daemon as daemon_mod
from rabbitmq_preflight.facts import ClusterNode, Facts
from rabbitmq_preflight.inventory import parse_inventory
from rabbitmq_preflight.pipeline import CheckRun, SavedFacts, choose_rules, judge
from rabbitmq_preflight.service.auditlog import open_audit_log
from rabbitmq_preflight.service.daemon import AuditDaemon, DaemonOptions
from rabbitmq_preflight.service.drift import StateStore
from rabbitmq_preflight.service.health import DaemonStatus
from rabbitmq_preflight.service.notify import Notifier
from rabbitmq_preflight.service.schedule import Schedule
from tests.ha_facts import THREE, facts, management

INVENTORY = parse_inventory({"cluster": {"name": "test"}, "nodes": [{"name": n} for n in THREE]}, "inv.toml")
GiB = 1 << 30


def cluster(alarm_on: str | None) -> Facts:
    nodes = [ClusterNode(name=n, type="disc", running=True, rabbitmq_version="3.10.8", mem_alarm=n == alarm_on,
                         disk_free_alarm=False, mem_used=5 * GiB if n == alarm_on else GiB, mem_limit=4 * GiB,
                         fd_used=40, fd_total=1024, sockets_used=0, net_ticktime=60, being_drained=False)
             for n in THREE]
    return facts(management(nodes=nodes))


def test_a_memory_alarm_that_appears_and_clears_is_new_then_resolved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opts = DaemonOptions(inventory_path=tmp_path / "inv.toml", schedule=Schedule(interval=60.0),
                         state_dir=tmp_path / "state", audit_log=str(tmp_path / "audit.jsonl"))
    store = StateStore(opts.state_dir)
    store.prepare()
    status = DaemonStatus(fail_on="error", stale_after=opts.schedule.stale_after)
    rules = choose_rules(["health"])
    d = AuditDaemon(opts, INVENTORY, rules, open_audit_log(opts.audit_log), store, None, status, Notifier({}))
    snapshots = iter([cluster(None), cluster("rabbit@b"), cluster(None)])
    facts_file = tmp_path / "facts.json"

    def judge_saved_facts(inv: Any, sources: Any, chosen: Any, **kwargs: Any) -> CheckRun:
        facts_file.write_text(next(snapshots).to_json())  # what this run's probe would have seen
        return judge(inv, [SavedFacts((facts_file,))], chosen, **kwargs)

    monkeypatch.setattr(daemon_mod, "judge", judge_saved_facts)
    for _ in range(3):
        d.run_once()
    records = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    events = [(r["event"], r.get("identity")) for r in records]
    assert events == [
        ("audit.run", None),
        ("audit.run", None), ("audit.finding.new", "HEALTH002|rabbit@b|mem_alarm"),
        ("audit.run", None), ("audit.finding.resolved", "HEALTH002|rabbit@b|mem_alarm"),
    ]
    runs = [r for r in records if r["event"] == "audit.run"]
    assert [r["exit_code"] for r in runs] == [0, 1, 0]
    alarm = next(r for r in records if r["event"] == "audit.finding.new")["finding"]
    assert (alarm["rule"], alarm["node"], alarm["severity"]) == ("HEALTH002", "rabbit@b", "error")
    assert alarm["message"] == ("rabbit@b has a memory alarm in effect: using 5120 MiB of its 4096 MiB high "
                                "watermark — publishers on every node are blocked")
