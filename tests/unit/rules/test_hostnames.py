"""Hostname rules from facts: unresolvable names, the 127.0.1.1 trap, wrong addresses, mixed names."""

from __future__ import annotations

from rabbitmq_preflight.engine import run_rules
from rabbitmq_preflight.facts import Facts, HostResolution
from rabbitmq_preflight.inventory import NodeSpec
from rabbitmq_preflight.report import Report
from rabbitmq_preflight.rules import rule_by_id
from tests.factories import facts, node, resolved

NODES = ("rabbit@rabbit1", "rabbit@rabbit2")


def lab_facts(*resolutions: HostResolution, origin_node: str | None = "rabbit@rabbit1",
              names: tuple[str, ...] = NODES) -> Facts:
    f = facts(*(node(n) for n in names), origin_node=origin_node, hostname="rabbit1")
    f.inventory.nodes = [NodeSpec(name=n, address=f"198.18.0.1{i + 1}") for i, n in enumerate(names)]
    f.views[0].resolution = {r.host: r for r in resolutions}
    return f


def judge(rule_id: str, f: Facts) -> Report:
    return run_rules(f, [rule_by_id(rule_id)])


def test_unresolvable_peer_on_a_cluster_node_is_an_error_with_the_hosts_line() -> None:
    f = lab_facts(resolved("rabbit1", "198.18.0.11"), resolved("rabbit2"))
    [finding] = judge("HOST001", f).findings
    assert finding.node == "rabbit@rabbit2" and finding.severity == "error"
    assert "host name rabbit2 does not resolve on rabbit@rabbit1" in finding.message
    assert "add this line to /etc/hosts: `198.18.0.12 rabbit2`" in finding.remediation


def test_unresolvable_name_on_a_non_member_host_is_a_warning() -> None:
    f = lab_facts(resolved("rabbit1", "198.18.0.11"), resolved("rabbit2"), origin_node=None)
    [finding] = judge("HOST001", f).findings
    assert finding.severity == "warning" and "rabbitmqctl from here will fail" in finding.message


def test_missing_resolution_fact_is_unknown() -> None:
    report = judge("HOST001", lab_facts(resolved("rabbit1", "198.18.0.11")))
    assert {c.node: c.status for c in report.checks} == {"rabbit@rabbit1": "pass", "rabbit@rabbit2": "unknown"}


def test_peer_resolving_to_127_0_1_1_is_the_loopback_trap() -> None:
    f = lab_facts(resolved("rabbit1", "127.0.1.1"), resolved("rabbit2", "127.0.1.1", hosts_file=["127.0.1.1"]))
    [finding] = judge("HOST002", f).findings  # rabbit1 resolving to loopback on rabbit1 itself is fine
    assert finding.node == "rabbit@rabbit2"
    assert "resolves to 127.0.1.1" in finding.message
    assert "remove `rabbit2` from the `127.0.1.1` line" in finding.remediation
    assert "`198.18.0.12 rabbit2`" in finding.remediation


def test_loopback_is_fine_when_every_node_runs_on_one_host() -> None:
    f = lab_facts(resolved("vm", "127.0.0.1"), names=("rabbit1@vm", "rabbit2@vm"))
    report = judge("HOST002", f)
    assert report.findings == [] and report.checks[0].status == "skipped"


def test_hosts_entry_pointing_elsewhere_is_a_wrong_address_with_the_line_to_change() -> None:
    f = lab_facts(resolved("rabbit1", "198.18.0.11"), resolved("rabbit2", "198.18.0.99", hosts_file=["198.18.0.99"]))
    [finding] = judge("HOST003", f).findings
    assert "resolves to 198.18.0.99" in finding.message and "node is at 198.18.0.12" in finding.message
    assert "change the /etc/hosts line `198.18.0.99 rabbit2` to `198.18.0.12 rabbit2`" in finding.remediation


def test_hosts_file_and_dns_disagreeing_is_a_warning() -> None:
    f = lab_facts(resolved("rabbit2", "198.18.0.12", hosts_file=["198.18.0.12"], dns=["203.0.113.7"]))
    [finding] = judge("HOST004", f).findings
    assert finding.severity == "warning" and "DNS answers 203.0.113.7" in finding.message


def test_mixed_short_and_long_names_name_the_odd_node() -> None:
    f = facts(node("rabbit@a"), node("rabbit@b"), node("rabbit@c.example.com"))
    [finding] = judge("HOST005", f).findings
    assert finding.node == "rabbit@c.example.com" and "uses a long name" in finding.message


def test_slow_resolution_is_reported_with_the_time() -> None:
    f = lab_facts(resolved("rabbit1", "198.18.0.11", latency_ms=2500.0), resolved("rabbit2", "198.18.0.12"))
    [finding] = judge("HOST007", f).findings
    assert finding.node == "rabbit@rabbit1" and "took 2500 ms" in finding.message


def test_node_announcing_another_name_is_a_name_mismatch() -> None:
    from rabbitmq_preflight.facts import DistHandshake, Observation

    f = facts(node("rabbit@localhost"))
    f.views[0].nodes["rabbit@localhost"].handshake = Observation[DistHandshake](value=DistHandshake(
        verdict="accepted", port=25672, version=6, our_name="preflight-1@x", remote_name="rabbit@vm",
        name_matches=False))
    [finding] = judge("HOST006", f).findings
    assert "announced itself as rabbit@vm" in finding.message
    assert "Refer to the node as rabbit@vm" in finding.remediation


def test_epmd_listing_other_names_means_the_node_name_differs() -> None:
    from rabbitmq_preflight.facts import EpmdNames, EpmdNode, Observation

    f = facts(node("rabbit@host1"))
    f.views[0].nodes["rabbit@host1"].epmd = Observation[EpmdNames](
        value=EpmdNames(epmd_port=4369, nodes=[EpmdNode(alive="rabbit1", port=25672)]))
    [finding] = judge("HOST006", f).findings
    assert "lists rabbit1 but no node named 'rabbit'" in finding.message


def test_two_nodes_on_the_checking_host_may_resolve_to_loopback_issue_16_1() -> None:
    """rabbit1@vm and rabbit2@vm beside rabbit3@db, checked on vm: vm -> 127.0.0.1 is this host, right."""
    f = lab_facts(resolved("vm", "127.0.0.1"), resolved("db", "198.18.0.13"),
                  names=("rabbit1@vm", "rabbit2@vm", "rabbit3@db"), origin_node="rabbit1@vm")
    f.views[0].origin.hostname = "vm"
    report = judge("HOST002", f)
    assert report.findings == []
    assert {c.node: c.status for c in report.checks} == {
        "rabbit1@vm": "pass", "rabbit2@vm": "pass", "rabbit3@db": "pass"}


def test_same_host_nodes_checked_from_a_non_member_host_named_like_them_issue_16_1() -> None:
    """A CI runner whose own hostname (or FQDN) is the nodes' host: loopback is this host, so right."""
    f = lab_facts(resolved("vm", "127.0.1.1"), resolved("db", "198.18.0.13"),
                  names=("rabbit1@vm", "rabbit2@vm", "rabbit3@db"), origin_node=None)
    f.views[0].origin.hostname = "vm.example.com"
    assert judge("HOST002", f).findings == []


def test_loopback_for_a_host_that_is_not_this_one_is_still_the_trap_issue_16_1() -> None:
    f = lab_facts(resolved("vm", "127.0.0.1"), resolved("db", "127.0.1.1"),
                  names=("rabbit1@vm", "rabbit2@vm", "rabbit3@db"), origin_node="rabbit1@vm")
    f.views[0].origin.hostname = "vm"
    [finding] = judge("HOST002", f).findings
    assert finding.node == "rabbit3@db" and finding.severity == "error"


def test_mixed_names_at_scale_name_ten_peers_and_count_the_rest() -> None:
    """One finding per odd node: naming every other node in each was quadratic (246 MB at 1,000 nodes)."""
    f = facts(*[node(f"rabbit@h{i}") for i in range(30)], node("rabbit@odd.example.com"))
    [finding] = judge("HOST005", f).findings
    assert "rabbit@h0, rabbit@h1" in finding.message and "and 20 more use short names" in finding.message
    assert len(finding.evidence["short"]) == 10 and finding.evidence["short_count"] == 30
    assert finding.evidence["long"] == ["rabbit@odd.example.com"] and finding.evidence["long_count"] == 1
