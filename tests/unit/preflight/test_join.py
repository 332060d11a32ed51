"""The join verdict: which findings stop `join_cluster`, which only describe its consequences."""

from __future__ import annotations

from typing import Any

from rabbitmq_preflight.facts import Facts
from rabbitmq_preflight.inventory import NodeSpec
from rabbitmq_preflight.join import plan_joins
from rabbitmq_preflight.report import Finding
from tests.factories import facts, node

SEED, JOINER = "rabbit@rabbit1", "rabbit@rabbit4"


def joining(ram: bool = False) -> Facts:
    f = facts(node(SEED), node("rabbit@rabbit2"), node(JOINER))
    specs = [NodeSpec(name=SEED), NodeSpec(name="rabbit@rabbit2"),
             NodeSpec(name=JOINER, join=SEED, type="ram" if ram else None)]
    return f.model_copy(update={"inventory": f.inventory.model_copy(update={"nodes": specs})})


def finding(rule: str, family: str, node: str | None, severity: str = "error", subject: str = "",
            outcome: str = "fail") -> Finding:
    fields: dict[str, Any] = {"rule": rule, "slug": rule.lower(), "family": family, "severity": severity,
                              "node": node, "subject": subject, "message": f"{rule} on {node}",
                              "remediation": "fix", "outcome": outcome}
    return Finding(**fields)


def test_a_healthy_join_will_work_and_lists_the_operator_recipe_on_the_joining_host() -> None:
    [plan] = plan_joins(joining(), [])
    assert (plan.node, plan.into, plan.verdict, plan.reasons) == (JOINER, SEED, "will work", [])
    assert [(s.host, s.command) for s in plan.steps] == [
        ("rabbit4", "rabbitmqctl stop_app"), ("rabbit4", "rabbitmqctl reset"),
        ("rabbit4", "rabbitmqctl join_cluster rabbit@rabbit1"), ("rabbit4", "rabbitmqctl start_app"),
        ("rabbit4", "rabbitmqctl cluster_status"),
    ]


def test_a_ram_join_uses_the_ram_flag() -> None:
    [plan] = plan_joins(joining(ram=True), [])
    assert plan.ram and "rabbitmqctl join_cluster --ram rabbit@rabbit1" in [s.command for s in plan.steps]


def test_the_seed_rejecting_the_joiners_cookie_fails_the_join() -> None:
    [plan] = plan_joins(joining(), [finding("COOKIE001", "cookie", JOINER)])
    assert plan.verdict == "will fail" and plan.reasons == [f"COOKIE001 COOKIE001 on {JOINER}"]


def test_ports_closed_inbound_on_the_joiner_do_not_stop_the_join_it_dials_out() -> None:
    closed = [finding("PORT002", "port", JOINER, subject=f"tcp/{p} ({r})")
              for p, r in ((4369, "epmd"), (25672, "dist"), (5672, "amqp"))]
    [plan] = plan_joins(joining(), closed)
    assert plan.verdict == "will work"


def test_the_seeds_distribution_port_filtered_fails_the_join_but_its_amqp_port_does_not() -> None:
    dist = finding("PORT002", "port", SEED, subject="tcp/25672 (dist)")
    amqp = finding("PORT002", "port", SEED, subject="tcp/5672 (amqp)")
    assert plan_joins(joining(), [amqp])[0].verdict == "will work"
    assert plan_joins(joining(), [amqp, dist])[0].verdict == "will fail"


def test_a_check_that_could_not_be_done_makes_the_verdict_cannot_tell_never_will_work() -> None:
    [plan] = plan_joins(joining(), [finding("COOKIE001", "cookie", SEED, outcome="unknown")])
    assert plan.verdict == "cannot tell" and plan.reasons


def test_warnings_other_nodes_and_waived_findings_do_not_decide_the_join() -> None:
    noise = [
        finding("HOST001", "hostname", SEED, severity="warning"),  # CLI tools on this host only
        finding("COOKIE001", "cookie", "rabbit@rabbit2"),  # another member: not on the join's path
        finding("VER001", "version", None).model_copy(update={"waived": True}),
        finding("HA001", "ha-policy", None),
    ]
    assert plan_joins(joining(), noise)[0].verdict == "will work"
    assert plan_joins(joining(), [finding("VER001", "version", None)])[0].verdict == "will fail"
