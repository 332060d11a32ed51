"""The `config` rules judging the files read on each node's host over SSH (`check --ssh`): one node per
host, all of them the inventory's cluster, every finding naming the host and the path."""

from __future__ import annotations

from pathlib import Path

from rabbitmq_preflight.facts import View
from rabbitmq_preflight.inventory import parse_inventory
from rabbitmq_preflight.pipeline import SavedFacts, judge
from rabbitmq_preflight.report import Report
from rabbitmq_preflight.rules import rule_by_id
from tests.hostview_replies import NODES, facts_of, reply, view

CONF = "/etc/rabbitmq/rabbitmq.conf"


def hosts(configs: dict[str, dict[str, str]]) -> list[View]:
    return [view(h, reply(h, config=configs.get(h, {}))) for h in ("rabbit1", "rabbit2", "rabbit3")]


def check(tmp_path: Path, rule_id: str, views: list[View], expect: str | None = "3.10") -> Report:
    facts = tmp_path / "facts.json"
    facts.write_text(facts_of(*views).to_json())
    expectations = {"expect": {"rabbitmq": expect}} if expect else {}
    inv = parse_inventory({"nodes": [{"name": n} for n in NODES], **expectations}, "test.toml")
    return judge(inv, [SavedFacts((facts,))], [rule_by_id(rule_id)]).report


def test_an_unknown_key_on_one_host_is_reported_on_that_host_with_its_path(tmp_path: Path) -> None:
    views = hosts({h: {"main": "heartbeat = 30"} for h in ("rabbit1", "rabbit3")} |
                  {"rabbit2": {"main": "heartbeat = 30\nhearbeat = 30"}})
    report = check(tmp_path, "CONF002", views)
    [f] = report.findings
    assert f.node == "rabbit@rabbit2" and f.subject == f"rabbit@rabbit2:{CONF}:hearbeat"
    assert f.message.startswith(f"rabbit@rabbit2:{CONF}:2: `hearbeat` is not a key RabbitMQ 3.10 knows")
    assert {c.node: c.status for c in report.checks} == {"rabbit@rabbit1": "pass", "rabbit@rabbit2": "fail",
                                                         "rabbit@rabbit3": "pass"}


def test_a_value_that_must_agree_set_on_one_host_only_is_one_cluster_wide_finding(tmp_path: Path) -> None:
    views = hosts({"rabbit2": {"main": "net_ticktime = 120"}})  # rabbit1 and rabbit3 have no rabbitmq.conf
    [f] = check(tmp_path, "CONF041", views).findings
    assert f.node is None and f.subject == "rabbitmq:net_ticktime"
    assert f.message == (f"rabbit@rabbit2:{CONF}:1: net_ticktime differs across the cluster's nodes: "
                         "rabbit@rabbit2=120 (unset on rabbit@rabbit1, rabbit@rabbit3)")


def test_classic_config_peers_that_differ_between_hosts_are_named_per_host(tmp_path: Path) -> None:
    peers = "\n".join(f"cluster_formation.classic_config.nodes.{i} = {n}" for i, n in enumerate(NODES, 1))
    views = hosts({"rabbit1": {"main": peers}, "rabbit2": {"main": peers},
                   "rabbit3": {"main": peers.replace("rabbit@rabbit3", "rabbit@rabbit9")}})
    findings = check(tmp_path, "CONF031", views).findings
    assert {(f.node, f.subject) for f in findings} == {
        ("rabbit@rabbit3", f"rabbit@rabbit3:{CONF}:3"),  # not in the inventory
        (None, "rabbitmq:classic_config"),  # the lists differ
    }
    [differ] = [f for f in findings if f.node is None]
    assert "rabbit@rabbit3: ['rabbit@rabbit1', 'rabbit@rabbit2', 'rabbit@rabbit9']" in differ.message


def test_a_host_whose_config_could_not_be_read_is_not_judged_as_if_it_had_none(tmp_path: Path) -> None:
    views = hosts({h: {"main": "heartbeat = 30"} for h in ("rabbit1", "rabbit2")})
    denied = reply("rabbit3", config={}).replace(f"CONFFILE\tmain\trabbitmq.conf\t{CONF}\tabsent\tdefault",
                                                 f"CONFFILE\tmain\trabbitmq.conf\t{CONF}\tdenied\tdefault\tops")
    views[2] = view("rabbit3", denied)
    report = check(tmp_path, "CONF040", views)
    [skipped] = [c for c in report.checks if c.node == "rabbit@rabbit3"]
    assert skipped.status == "skipped" and f"{CONF}: not readable by the SSH user (ops)" in (skipped.reason or "")
    assert {f.node for f in report.findings} == {"rabbit@rabbit1", "rabbit@rabbit2"}  # no partition handling


def test_a_host_without_any_config_file_passes_the_parse_check_and_lint_still_skips_without_files(
        tmp_path: Path) -> None:
    report = check(tmp_path, "CONF001", hosts({}))
    assert report.findings == [] and [c.status for c in report.checks] == ["skipped"]


def test_partition_handling_left_at_ignore_on_a_host_names_the_host_once(tmp_path: Path) -> None:
    views = hosts({h: {"main": "heartbeat = 30"} for h in ("rabbit1", "rabbit2", "rabbit3")})
    findings = check(tmp_path, "CONF040", views).findings
    assert [f.node for f in findings] == ["rabbit@rabbit1", "rabbit@rabbit2", "rabbit@rabbit3"]
    assert findings[1].message == (f"rabbit@rabbit2:{CONF}:1: cluster_partition_handling is not set (ignore) "
                                   "on a clustered node")
