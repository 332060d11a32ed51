"""Port rules from facts fixtures."""

from __future__ import annotations

from rabbitmq_preflight.engine import run_rules
from rabbitmq_preflight.report import Report
from rabbitmq_preflight.rules import rule_by_id
from tests.factories import facts, node, port


def judge(rule_id: str, *nodes: object) -> Report:
    return run_rules(facts(*nodes), [rule_by_id(rule_id)])  # type: ignore[arg-type]


def test_stopped_node_refusal_says_the_node_is_not_running_because_epmd_answers() -> None:
    [f] = judge("PORT001", node("rabbit@b", down=True)).findings
    assert f.node == "rabbit@b" and f.subject == "tcp/5672 (amqp)"
    assert "refused the connection" in f.message and "node is not running" in f.message
    assert "systemctl start rabbitmq-server" in f.remediation


def test_filtered_port_names_the_port_and_the_firewall_fix() -> None:
    n = node("rabbit@c", ports=[port("dist", 25672, "timeout", latency_ms=2000.0), port("epmd", 4369)])
    [f] = judge("PORT002", n).findings
    assert f.subject == "tcp/25672 (dist)"
    assert "filtered by a firewall" in f.message and "2000 ms" in f.message
    assert "--dport 25672" in f.remediation and "ufw allow" in f.remediation


def test_open_ports_pass() -> None:
    report = judge("PORT002", node("rabbit@a"))
    assert report.findings == [] and report.checks[0].status == "pass"


def test_open_port_speaking_another_protocol_is_its_own_error() -> None:
    n = node("rabbit@a", ports=[port("amqp", 5672, speaks_protocol=False,
                                     protocol_detail="an HTTP server answered on the AMQP port")])
    [f] = judge("PORT004", n).findings
    assert "does not speak AMQP" in f.message and "HTTP server" in f.message


def test_unresolvable_target_is_unreachable() -> None:
    n = node("rabbit@x", ports=[port("amqp", 5672, "unresolvable", detail="x:5672: name does not resolve")])
    [f] = judge("PORT003", n).findings
    assert "cannot be reached" in f.message and "getent hosts" in f.remediation


def test_required_port_held_by_another_program_names_the_process() -> None:
    from rabbitmq_preflight.facts import Listener, Observation

    f = facts(node("rabbit@a"), origin_node="rabbit@a", hostname="a")
    f.views[0].listeners = Observation[list[Listener]](value=[
        Listener(address="0.0.0.0", port=5672, pid=4242, process="qpidd", user="qpidd"),
        Listener(address="0.0.0.0", port=25672, pid=99, process="beam.smp", user="rabbitmq"),
        Listener(address="0.0.0.0", port=22, pid=1, process="sshd", user="root"),
    ])
    [finding] = run_rules(f, [rule_by_id("PORT005")]).findings
    assert "tcp/5672" in finding.message and "qpidd (pid 4242, user qpidd)" in finding.message


def test_port_in_use_is_not_judged_on_a_host_that_is_not_a_node() -> None:
    assert run_rules(facts(node("rabbit@a")), [rule_by_id("PORT005")]).checks == []


def test_a_local_limit_is_unknown_not_refused_filtered_or_pass() -> None:
    detail = "127.0.0.9:5672: not probed: Too many open files on this host (a local limit, not the peer)"
    n = node("rabbit@a", ports=[port("amqp", 5672, "local_limit", detail=detail), port("epmd", 4369)])
    for rule_id in ("PORT001", "PORT002"):
        report = judge(rule_id, n)
        assert [c.status for c in report.checks] == ["unknown"], rule_id
        assert all("Too many open files" in f.message for f in report.findings)
