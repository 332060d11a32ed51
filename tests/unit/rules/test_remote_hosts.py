"""REMOTE rules, and the existing hostname/port/cookie rules, judged from views collected on each host."""

from __future__ import annotations

import datetime as dt

from rabbitmq_preflight.engine import run_rules
from rabbitmq_preflight.facts import ClusterNode, Facts, ManagementFacts, Observation, Origin, SshSession, View
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


# --- REMOTE006: free disk at the data directory against the node's disk_free_limit


def disk_report(*views: View, series: str | None = "3.10", management: list[ClusterNode] | None = None) -> Report:
    from rabbitmq_preflight.configfiles.judge import with_host_configs

    facts = facts_of(*views)
    if management is not None:
        api = ManagementFacts(source="api", nodes=Observation(value=management))
        facts.views[0].management = Observation(value=api)
    return judge("REMOTE006", with_host_configs(facts, series, "test"))


def on_disk(host: str, free_mb: float, config: dict[str, str] | None = None, mem_kib: int | None = None) -> View:
    free_kib = int(free_mb * 1_000_000 / 1024)
    return view(host, reply(host, disk_kib=(10_000_000, free_kib), config={} if config is None else config,
                            mem_kib=mem_kib))


def test_free_space_below_the_default_limit_is_an_error_and_near_it_a_warning() -> None:
    report = disk_report(on_disk("rabbit1", 40), on_disk("rabbit2", 80), on_disk("rabbit3", 500))
    by_node = {f.node: f for f in report.findings}
    assert set(by_node) == {"rabbit@rabbit1", "rabbit@rabbit2"}
    low, near = by_node["rabbit@rabbit1"], by_node["rabbit@rabbit2"]
    assert low.severity == "error" and near.severity == "warning"
    assert low.message == ("/var/lib/rabbitmq/mnesia on rabbit@rabbit1's host has 38 MiB free, below the node's "
                           "disk_free_limit of 48 MiB (RabbitMQ's default: its config does not set "
                           "disk_free_limit): RabbitMQ raises the disk alarm and blocks every publisher in the "
                           "cluster")
    assert "less than twice" in near.message and low.evidence["disk_free_limit"] == 50_000_000
    assert [c.status for c in report.checks if c.node == "rabbit@rabbit3"] == ["pass"]


def test_the_limit_comes_from_the_hosts_rabbitmq_conf_absolute_or_relative_to_memory() -> None:
    absolute = on_disk("rabbit1", 1_500, {"main": "disk_free_limit.absolute = 1GB"})
    relative = on_disk("rabbit2", 3_000, {"main": "disk_free_limit.relative = 1.5"}, mem_kib=2_000_000)
    plenty = on_disk("rabbit3", 1_500, {"main": "disk_free_limit.absolute = 500MB"})
    report = disk_report(absolute, relative, plenty)
    by_node = {f.node: f for f in report.findings}
    assert set(by_node) == {"rabbit@rabbit1", "rabbit@rabbit2"}
    assert by_node["rabbit@rabbit1"].severity == "warning"
    assert by_node["rabbit@rabbit1"].evidence["limit_from"] == "rabbit@rabbit1:/etc/rabbitmq/rabbitmq.conf:1"
    assert by_node["rabbit@rabbit2"].severity == "error"  # 1.5 x 2,048,000,000 bytes > 3 GB
    assert by_node["rabbit@rabbit2"].evidence["disk_free_limit"] == 3_072_000_000


def test_advanced_config_mem_relative_wins_and_a_string_limit_is_unknown() -> None:
    adv = on_disk("rabbit1", 900, {"main": "disk_free_limit.absolute = 50MB",
                                   "advanced": "[{rabbit, [{disk_free_limit, {mem_relative, 1.0}}]}]."},
                  mem_kib=1_000_000)
    string = on_disk("rabbit2", 900, {"advanced": '[{rabbit, [{disk_free_limit, "[redacted]"}]}].'})
    report = disk_report(adv, string, on_disk("rabbit3", 900))
    [f] = [f for f in report.findings if f.outcome == "fail"]
    assert f.node == "rabbit@rabbit1" and f.severity == "error" and f.evidence["disk_free_limit"] == 1_024_000_000
    [unknown] = [c for c in report.checks if c.node == "rabbit@rabbit2"]
    assert unknown.status == "unknown" and "strings in advanced.config stay on the host" in (unknown.reason or "")


def test_the_nodes_own_limit_from_the_api_wins_over_its_files() -> None:
    views = [on_disk("rabbit1", 150, {"main": "disk_free_limit.absolute = 50MB"}), on_disk("rabbit2", 150),
             on_disk("rabbit3", 150)]
    api = [ClusterNode(name="rabbit@rabbit1", disk_free_limit=100_000_000)]  # set at run time
    report = disk_report(*views, management=api)
    [f] = report.findings
    assert f.node == "rabbit@rabbit1" and f.severity == "warning"
    assert f.evidence["limit_from"] == "as the node reports it in /api/nodes"


def test_missing_facts_are_unknown_with_the_reason() -> None:
    no_config = view("rabbit1", reply("rabbit1"))  # an older collector: no config records
    df_failed = view("rabbit2", reply("rabbit2", config={}).replace("DISK\tok\t1000000\t500000",
                                                                    "DISK\terror\tdf: No such file or directory"))
    no_memory = on_disk("rabbit3", 900, {"main": "disk_free_limit.relative = 1.0"})
    report = disk_report(no_config, df_failed, no_memory)
    reasons = {c.node: (c.status, c.reason or "") for c in report.checks}
    assert {status for status, _ in reasons.values()} == {"unknown"}
    assert {f.outcome for f in report.findings} == {"unknown"}
    assert "config was not collected" in reasons["rabbit@rabbit1"][1]
    assert "df /var/lib/rabbitmq/mnesia on rabbit@rabbit2: df: No such file" in reasons["rabbit@rabbit2"][1]
    assert "total memory was not read" in reasons["rabbit@rabbit3"][1]


def test_sizes_are_read_as_rabbitmq_reads_them_per_series() -> None:
    from rabbitmq_preflight.rules.remote_hosts import information_bytes

    assert information_bytes("2G", "3.10") == 2 << 30 and information_bytes("2G", "3.13") == 2_000_000_000
    assert information_bytes("2G", None) == 2 << 30  # unknown series: the larger reading
    assert information_bytes("512MiB", "4.1") == 512 << 20 and information_bytes("1GB", "3.10") == 10**9
    assert information_bytes("50000000", None) == 50_000_000 and information_bytes("1.5GB", None) is None
