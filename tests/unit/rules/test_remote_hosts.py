"""REMOTE rules, and the existing hostname/port/cookie rules, judged from views collected on each host."""

from __future__ import annotations

import datetime as dt

from rabbitmq_preflight.engine import run_rules
from rabbitmq_preflight.facts import Facts, Origin, SshSession, View
from rabbitmq_preflight.report import Report
from rabbitmq_preflight.rules import rule_by_id
from tests.hostview_replies import facts_of, reply, view


def judge(rule_id: str, facts: Facts) -> Report:
    return run_rules(facts, [rule_by_id(rule_id)])


def healthy() -> list[View]:
    return [view(h) for h in ("rabbit1", "rabbit2", "rabbit3")]


def test_a_healthy_cluster_seen_from_every_host_passes_every_remote_rule() -> None:
    facts = facts_of(*healthy())
    for rule_id in ("REMOTE001", "PORT006", "REMOTE003", "REMOTE004", "REMOTE005"):
        report = judge(rule_id, facts)
        assert report.findings == [] and {c.status for c in report.checks} == {"pass"}, rule_id


def test_a_refused_key_is_unknown_on_that_host_with_the_fix() -> None:
    failed = View(origin=Origin(hostname="10.0.0.12", node="rabbit@rabbit2", collected_at=dt.datetime.now(dt.UTC)),
                  ssh=SshSession(node="rabbit@rabbit2", target="root@10.0.0.12", user="root", identity="/k/id",
                                 status="auth_failed", detail="10.0.0.12 refused the key for root (tried /k/id)",
                                 fix="install the public key for root on 10.0.0.12 "
                                     "(`ssh-copy-id -i /k/id root@10.0.0.12`)"))
    report = judge("REMOTE001", facts_of(view("rabbit1"), failed))
    [unknown] = [c for c in report.checks if c.status == "unknown"]
    assert unknown.node == "rabbit@rabbit2" and "auth_failed" in (unknown.reason or "")
    assert "ssh-copy-id -i /k/id root@10.0.0.12" in (unknown.reason or "")
    assert [c.status for c in report.checks if c.node == "rabbit@rabbit1"] == ["pass"]


def test_a_dist_port_filtered_for_one_source_only_is_asymmetric_and_names_both_hosts() -> None:
    views = healthy()
    views[1] = view("rabbit2", reply("rabbit2", tcp={("rabbit@rabbit1", "dist"): "timeout"}))
    [f] = judge("PORT006", facts_of(*views)).findings
    assert f.node == "rabbit@rabbit1" and f.subject == "tcp/25672 (dist) rabbit@rabbit2 -> rabbit@rabbit1"
    assert "timeout from rabbit@rabbit2's host" in f.message
    assert "-s 10.0.0.12" in (f.remediation or "") and "--dport 25672" in (f.remediation or "")


def test_the_existing_port_rule_names_the_source_host() -> None:
    views = healthy()
    views[1] = view("rabbit2", reply("rabbit2", tcp={("rabbit@rabbit1", "dist"): "timeout"}))
    [f] = judge("PORT002", facts_of(*views)).findings
    assert f.node == "rabbit@rabbit1" and f.subject == "tcp/25672 (dist) from rabbit@rabbit2"


def test_a_missing_hosts_entry_on_one_host_is_reported_from_that_host() -> None:
    views = healthy()
    views[2] = view("rabbit3", reply("rabbit3", hosts={"rabbit1": None}))
    findings = judge("HOST001", facts_of(*views)).findings
    assert [(f.node, f.subject, f.severity) for f in findings] == [
        ("rabbit@rabbit1", "resolve rabbit1 on rabbit@rabbit3", "error")]


def test_a_cookie_file_with_mode_0644_on_one_host_is_reported_there() -> None:
    views = healthy()
    views[1] = view("rabbit2", reply("rabbit2", mode="644"))
    [f] = judge("COOKIE005", facts_of(*views)).findings
    assert f.node == "rabbit@rabbit2" and "0644" in f.message and "chmod" in (f.remediation or "")


def test_different_cookie_fingerprints_across_hosts_are_compared() -> None:
    views = healthy()
    views[2] = view("rabbit3", reply("rabbit3", fingerprint="XhdCf8zpVJeJ0EHyaxszPg=="))
    [f] = judge("COOKIE002", facts_of(*views)).findings
    assert "XhdCf8zpVJeJ0EHyaxszPg==" in str(f.evidence)


def test_no_handshake_over_ssh_is_skipped_not_unknown() -> None:
    report = judge("COOKIE001", facts_of(*healthy()))
    assert {c.status for c in report.checks} == {"skipped"}


def test_clocks_apart_by_more_than_the_tolerance_name_both_hosts() -> None:
    views = healthy()
    views[2] = view("rabbit3", reply("rabbit3", clock=1_000_042.0))
    [f] = judge("REMOTE003", facts_of(*views)).findings
    assert "rabbit@rabbit3's clock is 42.0 s ahead of rabbit@rabbit" in f.message


def test_a_low_fd_limit_is_a_warning_with_the_systemd_fix() -> None:
    views = healthy()
    views[0] = view("rabbit1", reply("rabbit1", nofile=1024))
    [f] = judge("REMOTE004", facts_of(*views)).findings
    assert f.node == "rabbit@rabbit1" and "may open 1024 files" in f.message and "50000" in f.message
    assert "LimitNOFILE=65536" in (f.remediation or "")


def test_a_sibling_node_directory_means_the_node_name_changed() -> None:
    views = healthy()
    views[0] = view("rabbit1", reply("rabbit1", node_dirs=("rabbit@rabbit1", "rabbit@3f2a9c1e",
                                                         "rabbit@rabbit1-plugins-expand")))
    [f] = judge("REMOTE005", facts_of(*views)).findings
    assert f.subject == "/var/lib/rabbitmq/mnesia/rabbit@3f2a9c1e" and f.node == "rabbit@rabbit1"
    assert "RABBITMQ_NODENAME=rabbit@3f2a9c1e" in (f.remediation or "")


def test_without_ssh_views_the_remote_rules_are_skipped() -> None:
    from tests.factories import facts, node

    for rule_id in ("REMOTE001", "PORT006", "REMOTE003", "REMOTE004", "REMOTE005"):
        report = judge(rule_id, facts(node("rabbit@a")))
        assert {c.status for c in report.checks} == {"skipped"}, rule_id
