"""The all-pairs matrix in the report: JSON rows per source host, and the compact text table."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from rabbitmq_preflight.facts import Facts, Origin, SshSession, View
from rabbitmq_preflight.pipeline import judge
from rabbitmq_preflight.reachability import matrix_lines, reachability_rows
from rabbitmq_preflight.render import RenderContext, render
from rabbitmq_preflight.rules import rule_by_id
from tests.hostview_replies import facts_of, reply, view


def matrix_facts() -> Facts:
    refused = View(origin=Origin(hostname="rabbit3", node="rabbit@rabbit3", collected_at=dt.datetime.now(dt.UTC)),
                   ssh=SshSession(node="rabbit@rabbit3", target="root@rabbit3", status="auth_failed"))
    return facts_of(view("rabbit1"), view("rabbit2", reply("rabbit2", tcp={("rabbit@rabbit1", "dist"): "timeout",
                                                                           ("rabbit@rabbit3", "amqp"): "refused"})),
                    refused)


def test_rows_carry_every_cell_per_source_and_say_which_hosts_were_not_collected() -> None:
    rows = reachability_rows(matrix_facts())
    assert [(r.source, r.via, r.collected) for r in rows] == [
        ("rabbit@rabbit1", "ssh", True), ("rabbit@rabbit2", "ssh", True), ("rabbit@rabbit3", "ssh", False)]
    cells = {(c.node, c.role): (c.port, c.status) for c in rows[1].cells}
    assert cells[("rabbit@rabbit1", "dist")] == (25672, "timeout") and len(cells) == 12
    assert rows[2].reason == "ssh auth_failed" and rows[2].cells == []


def test_the_text_table_is_one_line_per_source_with_four_symbols_per_node() -> None:
    lines = matrix_lines(reachability_rows(matrix_facts()), ["rabbit@rabbit1", "rabbit@rabbit2", "rabbit@rabbit3"])
    assert lines[1].split() == ["from", "\\", "to", "rabbit1", "rabbit2", "rabbit3"]
    assert lines[2].split() == ["rabbit@rabbit1", "oooo", "oooo", "oooo"]
    assert lines[3].split() == ["rabbit@rabbit2", "oFoo", "oooo", "ooRo"]
    assert lines[4].split()[1:] == ["not", "collected", "(ssh", "auth_failed)"]


def test_the_report_carries_the_matrix_only_when_hosts_were_collected_over_ssh(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import rabbitmq_preflight.pipeline as pipeline

    facts = matrix_facts()
    monkeypatch.setattr(pipeline, "gather", lambda inv, sources: facts)
    report = judge(None, [], [rule_by_id("PORT006")]).report
    data = json.loads(report.to_json())
    assert [row["source"] for row in data["reachability"]] == ["rabbit@rabbit1", "rabbit@rabbit2", "rabbit@rabbit3"]
    text = render("text", report, RenderContext(rules=(), color=False, fail_on="error"))
    assert "rabbit@rabbit2  oFoo" in text.replace("   ", "  ")
    plain = facts.model_copy(update={"views": [facts.views[0].model_copy(update={"ssh": None})]})
    monkeypatch.setattr(pipeline, "gather", lambda inv, sources: plain)
    assert judge(None, [], [rule_by_id("PORT006")]).report.reachability == []
