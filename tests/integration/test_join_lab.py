"""Predict the join, then do it: RabbitMQ's own `join_cluster` is the judge of every verdict.

Each test adds a standalone host (rabbit4, rabbit5) next to the 3-node lab cluster, runs the check
with `--join`, then runs the steps the report prints, on the host it names, and asserts that RabbitMQ
did what the verdict said. The standalone hosts are removed when each test ends (and `heal`/`up`
remove any a failed test left behind).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Lab, run_preflight

pytestmark = pytest.mark.lab

SEED = "rabbit@rabbit1"
JOINER = "rabbit@rabbit4"
ADDRESSES = {f"rabbit{i}": f"198.18.0.{10 + i}" for i in range(1, 6)}


@contextmanager
def standalone(lab: Lab, *hosts: str, args: tuple[str, ...] = ()) -> Iterator[None]:
    try:
        for host in hosts:
            lab.sh("add", host, *args)
        yield
    finally:
        for host in hosts:
            lab.sh("remove", host, check=False)


def inventory(lab: Lab, tmp_path: Path, extra: dict[str, dict[str, str]], name: str = "inv.toml") -> Path:
    """The lab's inventory plus the standalone nodes (`join`, `type` as given)."""
    text = lab.inventory.read_text()
    head, _, expect = text.partition("\n[expect]")
    for node, keys in extra.items():
        host = node.partition("@")[2]
        head += f'\n[[nodes]]\nname = "{node}"\naddress = "{ADDRESSES[host]}"\n'
        head += "".join(f'{k} = "{v}"\n' for k, v in keys.items())
    path = tmp_path / name
    path.write_text(head + "\n[expect]" + expect)
    return path


def check(inv: Path, *args: str) -> tuple[int, dict[str, Any]]:
    result = run_preflight("check", "--inventory", str(inv), "--format", "json", *args)
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, result.json()


def api(lab: Lab, host: str, path: str) -> Any:
    """GET on a lab host's management API, from the root namespace (which reaches every host)."""
    out = subprocess.run(["curl", "-sf", "--noproxy", "*", "-m", "5", "-u", "guest:guest",
                          f"http://{ADDRESSES[host]}:15672{path}"], capture_output=True, text=True, timeout=30)
    return json.loads(out.stdout) if out.returncode == 0 and out.stdout else None


def members(lab: Lab, host: str) -> dict[str, str]:
    return {n["name"]: n["type"] for n in api(lab, host, "/api/nodes?columns=name,type") or []}


def run_steps(lab: Lab, plan: dict[str, Any]) -> list[int]:
    """Run the report's steps exactly as printed, on the host each names; their exit codes."""
    codes = []
    for step in plan["steps"]:
        done = lab.exec(step["host"], "env", "LC_ALL=C.UTF-8", "sh", "-c", step["command"], timeout=300)
        codes.append(done.returncode)
        if done.returncode != 0:
            break
    return codes


def wait_for_message_stats(lab: Lab, host: str, want: int) -> None:
    """Queue message counts come from stats emitted every few seconds: wait (bounded) until they show."""
    for _ in range(60):
        rows = api(lab, host, "/api/queues?columns=messages_ready") or []
        if sum(r.get("messages_ready") or 0 for r in rows if isinstance(r, dict)) == want:
            return
        time.sleep(0.5)
    raise AssertionError(f"{host}'s management API never showed {want} ready messages")


def rule_findings(report: dict[str, Any], rule: str) -> list[dict[str, Any]]:
    return [f for f in report["findings"] if f["rule"] == rule]


def test_standalone_node_is_an_error_in_an_audit_and_a_healthy_join_with_data_works_as_predicted(
        lab: Lab, tmp_path: Path) -> None:
    with standalone(lab, "rabbit4"):
        lab.sh("data", "rabbit4")
        wait_for_message_stats(lab, "rabbit4", 6)
        audit = inventory(lab, tmp_path, {JOINER: {"type": "disc"}}, "audit.toml")
        code, report = check(audit, "--select", "membership,node-type")
        [alone] = rule_findings(report, "MEMBER001")
        assert code == 1 and alone["node"] == JOINER and alone["severity"] == "error"
        assert alone["message"].startswith(f"{JOINER} runs as its own cluster (its members: {JOINER})")

        code, report = check(audit, "--join", JOINER, "--into", SEED)
        assert code == 0, [f["message"] for f in report["findings"] if f["severity"] in ("error", "critical")]
        [plan] = report["join"]
        assert (plan["node"], plan["into"], plan["verdict"]) == (JOINER, SEED, "will work")
        [reset] = rule_findings(report, "MEMBER004")
        assert reset["severity"] == "warning" and reset["message"].endswith(
            "which deletes 1 vhost (orders); 1 user (app-user); 1 policy; 2 queues holding 6 messages "
            "(6 ready, 0 unacknowledged)")
        assert plan["steps"][0]["command"].startswith("rabbitmqctl export_definitions")

        assert run_steps(lab, plan) == [0] * len(plan["steps"])  # RabbitMQ agrees: the join works
        assert members(lab, "rabbit1").get(JOINER) == "disc"
        vhosts = {v["name"] for v in api(lab, "rabbit4", "/api/vhosts?columns=name") or []}
        assert "orders" not in vhosts and "/" in vhosts  # reset destroyed what the warning counted

        code, report = check(audit, "--select", "membership")
        assert code == 0 and {c["node"]: c["status"] for c in report["checks"]
                              if c["rule"] == "MEMBER001"}[JOINER] == "pass"


def test_a_ram_join_is_judged_as_ram_and_joins_as_ram(lab: Lab, tmp_path: Path) -> None:
    with standalone(lab, "rabbit4"):
        inv = inventory(lab, tmp_path, {JOINER: {"type": "ram", "join": SEED}})
        code, report = check(inv)
        assert code == 0, [f["message"] for f in report["findings"] if f["severity"] in ("error", "critical")]
        node004 = {c["node"]: c for c in report["checks"] if c["rule"] == "NODE004"}
        assert node004[JOINER]["status"] == "skipped" and "--ram" in node004[JOINER]["reason"]
        [plan] = report["join"]
        assert plan["verdict"] == "will work" and plan["ram"]
        assert "rabbitmqctl join_cluster --ram rabbit@rabbit1" in [s["command"] for s in plan["steps"]]
        assert run_steps(lab, plan) == [0] * len(plan["steps"])
        assert members(lab, "rabbit1").get(JOINER) == "ram"


def test_a_joiner_with_another_cookie_will_fail_and_the_printed_fix_makes_it_join(lab: Lab, tmp_path: Path) -> None:
    with standalone(lab, "rabbit4", args=("--bad-cookie",)):
        inv = inventory(lab, tmp_path, {JOINER: {"join": SEED}})
        code, report = check(inv)
        [plan] = report["join"]
        assert code == 1 and plan["verdict"] == "will fail"
        [rejected] = rule_findings(report, "COOKIE001")
        assert rejected["node"] == JOINER and "cannot join them" in rejected["message"]
        assert "to rabbit4" in rejected["remediation"] or "rabbit4" in rejected["remediation"]

        # Checked on the joining host itself (its own cookie): the fix still goes to the joiner.
        local = tmp_path / "on-rabbit4.toml"
        local.write_text(inv.read_text().replace(str(lab.base / "cookie"), "/var/lib/rabbitmq/.erlang.cookie")
                         .replace(str(lab.base / "mgmt-password"), str(tmp_path / "pw")))
        (tmp_path / "pw").write_text("guest")
        on_joiner = lab.preflight_on("rabbit4", "check", "--inventory", str(local), "--format", "json",
                                     "--select", "COOKIE001")
        members_rejecting = [f for f in json.loads(on_joiner.stdout)["findings"] if f["rule"] == "COOKIE001"]
        assert {f["node"] for f in members_rejecting} == {SEED, "rabbit@rabbit2", "rabbit@rabbit3"}
        for f in members_rejecting:
            assert "the joining node has a different cookie" in f["message"]
            assert "Leave the cluster's members as they are" in f["remediation"]

        assert run_steps(lab, plan)[-1] != 0  # RabbitMQ agrees: join_cluster fails with that cookie
        assert JOINER not in members(lab, "rabbit1")

        # The fix as printed: the cluster's cookie onto rabbit4 (owner rabbitmq, mode 400), restart its node.
        target = lab.base / "rabbit4" / "var-lib-rabbitmq" / ".erlang.cookie"
        target.chmod(0o600)
        shutil.copyfile(lab.base / "cookie", target)
        shutil.chown(target, "rabbitmq", "rabbitmq")
        target.chmod(0o400)
        lab.sh("fault", "stop", "rabbit4")
        lab.sh("fault", "start", "rabbit4")
        code, report = check(inv)
        [plan] = report["join"]
        assert plan["verdict"] == "will work", plan["reasons"]
        assert run_steps(lab, plan) == [0] * len(plan["steps"])
        assert JOINER in members(lab, "rabbit1")


def test_the_seeds_distribution_port_dropped_fails_the_join_and_opening_it_for_the_joiner_fixes_it(
        lab: Lab, tmp_path: Path) -> None:
    with standalone(lab, "rabbit4"):
        dist = 25672
        lab.sh("fault", "drop-port", "rabbit1", str(dist))
        try:
            inv = inventory(lab, tmp_path, {JOINER: {"join": SEED}})
            code, report = check(inv, "--timeout", "1")
            [plan] = report["join"]
            assert code == 1 and plan["verdict"] == "will fail"
            assert any(r.startswith("PORT002") and "tcp/25672" in r for r in plan["reasons"]), plan["reasons"]
            [filtered] = [f for f in rule_findings(report, "PORT002") if f["node"] == SEED and "25672" in f["subject"]]
            fix = f"iptables -I INPUT -p tcp --dport {dist} -s 198.18.0.14 -j ACCEPT"
            assert f"For the join of {JOINER}, on rabbit1: `{fix}`" in filtered["remediation"]
            assert run_steps(lab, plan)[-1] != 0  # RabbitMQ agrees: the joiner cannot reach the seed
            lab.exec("rabbit4", "env", "LC_ALL=C.UTF-8", "rabbitmqctl", "start_app")
            assert lab.exec("rabbit1", "sh", "-c", fix).returncode == 0  # the fix, on the host it names
            code, report = check(inv, "--timeout", "1")
            [plan] = report["join"]
            assert run_steps(lab, plan) == [0] * len(plan["steps"])
            assert JOINER in members(lab, "rabbit1")
        finally:
            lab.exec("rabbit1", "sh", "-c", f"iptables -D INPUT -p tcp --dport {dist} -s 198.18.0.14 -j ACCEPT")
            lab.sh("remove", "rabbit4", check=False)
            lab.sh("heal")


def test_two_clusters_among_the_inventorys_nodes_are_critical(lab: Lab, tmp_path: Path) -> None:
    with standalone(lab, "rabbit4", "rabbit5"):
        for cmd in ("stop_app", "reset", "join_cluster rabbit@rabbit4", "start_app"):
            assert lab.exec("rabbit5", "env", "LC_ALL=C.UTF-8", "sh", "-c", f"rabbitmqctl {cmd}").returncode == 0
        inv = inventory(lab, tmp_path, {JOINER: {}, "rabbit@rabbit5": {}})
        code, report = check(inv, "--select", "membership")
        [split] = rule_findings(report, "MEMBER002")
        assert code == 1 and split["severity"] == "critical"
        assert split["message"] == ("the inventory's nodes form 2 separate clusters: {rabbit@rabbit1, "
                                    "rabbit@rabbit2, rabbit@rabbit3}; {rabbit@rabbit4, rabbit@rabbit5}")
