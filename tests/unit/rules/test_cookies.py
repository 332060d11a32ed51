"""Cookie and cookie-security rules, judged from facts built by hand (no network, no files)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

import pytest

from rabbitmq_preflight.engine import run_rules
from rabbitmq_preflight.facts import (
    AmqpServer,
    CookieFacts,
    CookieSource,
    CookieSourceKind,
    CookieValue,
    DistHandshake,
    ErlangProcess,
    Facts,
    InventorySummary,
    NodeFacts,
    Observation,
    Origin,
    PortCheck,
    PortStatus,
    ProbeError,
    View,
)
from rabbitmq_preflight.inventory import NodeSpec
from rabbitmq_preflight.outcomes import ErrorKind
from rabbitmq_preflight.report import Finding, Report
from rabbitmq_preflight.rules import rule_by_id
from rabbitmq_preflight.rules.security import env_var_status

NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
STRONG = CookieValue(fingerprint="64QrCJU1amTQ2K8fsm0gZQ==", length=32, distinct_chars=19)
OTHER = CookieValue(fingerprint="pJTjnTtUTdn6p4A+G+IDBw==", length=56, distinct_chars=41)
WEAK = CookieValue(fingerprint="eBvV8M32jyrgpl1Oqssp0Q==", length=8, distinct_chars=7, well_known=True)
SERVER = "/var/lib/rabbitmq/.erlang.cookie"


def source(kind: CookieSourceKind = "cookie_file", path: str | None = "/etc/preflight/cookie",
           **fields: Any) -> CookieSource:
    base: dict[str, Any] = {"present": True, "readable": True, "regular": True, "mode": "0400", "owner": "root",
                            "value": STRONG}
    if kind == "env":
        base = {"present": True, "value": STRONG}
    return CookieSource(kind=kind, path=None if kind == "env" else path, **{**base, **fields})


def cookie(*sources: CookieSource, user: str = "root", effective: CookieSourceKind | None = "cookie_file",
           processes: list[ErlangProcess] | None = None) -> CookieFacts:
    procs = Observation[list[ErlangProcess]](value=processes if processes is not None else [])
    return CookieFacts(user=user, sources=list(sources), effective=effective, processes=procs)


def handshake(verdict: Literal["accepted", "rejected"] = "accepted",
              node: str = "rabbit@a") -> Observation[DistHandshake]:
    return Observation[DistHandshake](value=DistHandshake(
        verdict=verdict, port=25672, version=6, our_name="preflight-1-2@checker", remote_name=node,
        name_matches=True))


def failed(kind: ErrorKind, detail: str) -> Observation[DistHandshake]:
    return Observation[DistHandshake](error=ProbeError(kind=kind, detail=detail))


def node(name: str, hs: Observation[DistHandshake] | None = None, dist: PortStatus | None = None,
         version: str | None = None) -> NodeFacts:
    ports = {"dist": PortCheck(role="dist", port=25672, status=dist)} if dist else {}
    amqp = Observation[AmqpServer](value=AmqpServer(version=version)) if version else None
    return NodeFacts(name=name, target=name.split("@")[1], handshake=hs, ports=ports, amqp=amqp)


def view(*nodes: NodeFacts, host: str = "checker", on: str | None = None, local: CookieFacts | None = None) -> View:
    return View(origin=Origin(hostname=host, node=on, collected_at=NOW), nodes={n.name: n for n in nodes},
                cookie=local)


def facts(*views: View) -> Facts:
    names = sorted({n for v in views for n in v.nodes} | {v.origin.node for v in views if v.origin.node})
    summary = InventorySummary(cluster="test", source="inventory.toml", nodes=[NodeSpec(name=n) for n in names])
    return Facts(tool_version="test", inventory=summary, views=list(views))


def judge(rule_id: str, f: Facts) -> Report:
    return run_rules(f, [rule_by_id(rule_id)])


def only(report: Report) -> Finding:
    [finding] = report.findings
    return finding


def statuses(report: Report) -> dict[str | None, str]:
    return {c.node: c.status for c in report.checks}


# --- COOKIE001: the handshake ----------------------------------------------------------------------


def test_rejected_cookie_names_the_node_and_says_to_copy_from_a_node_that_accepts_it() -> None:
    v = view(node("rabbit@a", handshake()), node("rabbit@b", handshake()), node("rabbit@c", handshake("rejected")),
             local=cookie(source()))
    report = judge("COOKIE001", facts(v))
    f = only(report)
    assert f.node == "rabbit@c" and f.severity == "error"
    assert f.message.startswith("rabbit@c rejected the Erlang cookie from /etc/preflight/cookie")
    assert "rabbit@a, rabbit@b accepted" in f.message and "preflight-1-2@checker" in f.message
    assert "scp a:/var/lib/rabbitmq/.erlang.cookie c:/var/lib/rabbitmq/.erlang.cookie" in f.remediation
    assert "chmod 400" in f.remediation and "chown rabbitmq:rabbitmq" in f.remediation
    assert "systemctl restart rabbitmq-server" in f.remediation
    assert statuses(report) == {"rabbit@a": "pass", "rabbit@b": "pass", "rabbit@c": "fail"}


def test_cookie_rejected_by_every_node_is_not_the_clusters_cookie() -> None:
    v = view(node("rabbit@a", handshake("rejected")), node("rabbit@b", handshake("rejected")),
             local=cookie(source()))
    report = judge("COOKIE001", facts(v))
    assert len(report.findings) == 2
    assert all("no node accepted it" in f.message and "--cookie-file" in f.remediation for f in report.findings)


def test_handshake_that_could_not_test_is_unknown_with_the_reason() -> None:
    v = view(node("rabbit@a", failed("timeout", "rabbit@a (distribution port 25672): sent no handshake status")))
    report = judge("COOKIE001", facts(v))
    assert statuses(report) == {"rabbit@a": "unknown"}
    assert "sent no handshake status" in only(report).message


def test_no_handshake_option_skips_the_check_and_missing_facts_are_unknown() -> None:
    v = view(node("rabbit@a", failed("skipped", "the handshake was not attempted (--no-handshake)")),
             node("rabbit@b", None))
    report = judge("COOKIE001", facts(v))
    assert statuses(report) == {"rabbit@a": "skipped", "rabbit@b": "unknown"}


# --- COOKIE002: fingerprints across hosts ----------------------------------------------------------


def test_differing_fingerprints_list_which_hosts_share_which() -> None:
    views = [view(host=h, on=f"rabbit@{h}", local=cookie(source(path=SERVER, value=v)))
             for h, v in [("r1", STRONG), ("r2", STRONG), ("r3", OTHER)]]
    f = only(judge("COOKIE002", facts(*views)))
    assert f.node is None
    assert f"{STRONG.fingerprint}: rabbit@r1, rabbit@r2; {OTHER.fingerprint}: rabbit@r3" in f.message
    assert "Copy rabbit@r1's cookie to rabbit@r3" in f.remediation
    assert "`scp r1:/var/lib/rabbitmq/.erlang.cookie r3:/var/lib/rabbitmq/.erlang.cookie`" in f.remediation


def test_same_fingerprint_everywhere_passes_and_one_host_is_skipped() -> None:
    same = [view(host=h, on=f"rabbit@{h}", local=cookie(source(path=SERVER))) for h in ("r1", "r2")]
    assert statuses(judge("COOKIE002", facts(*same))) == {None: "pass"}
    assert statuses(judge("COOKIE002", facts(same[0]))) == {None: "skipped"}


# --- the files -------------------------------------------------------------------------------------


def test_missing_explicit_cookie_file_is_an_error() -> None:
    local = cookie(source(present=False, readable=None, regular=None, mode=None, owner=None, value=None),
                   effective=None)
    f = only(judge("COOKIE003", facts(view(local=local))))
    assert "/etc/preflight/cookie (from --cookie-file or the inventory) does not exist on checker" in f.message


def test_missing_server_cookie_on_a_node_host_breaks_clustering_but_not_elsewhere() -> None:
    local = cookie(source("server_file", SERVER, present=False, value=None), effective=None)
    f = only(judge("COOKIE003", facts(view(on="rabbit@r1", host="r1", local=local))))
    assert f.node == "rabbit@r1" and "generate a random cookie" in f.message
    assert judge("COOKIE003", facts(view(local=local))).findings == []


@pytest.mark.parametrize("mode", ["0644", "0640", "0604", "0777"])
def test_group_or_other_bits_are_the_mode_finding(mode: str) -> None:
    f = only(judge("COOKIE005", facts(view(local=cookie(source(mode=mode))))))
    assert f"has mode {mode}" in f.message and "must be accessible by owner only" in f.message
    assert f.remediation.startswith("`chmod 400 /etc/preflight/cookie`")


@pytest.mark.parametrize("mode", ["0400", "0600"])
def test_owner_only_modes_pass(mode: str) -> None:
    assert judge("COOKIE005", facts(view(local=cookie(source(mode=mode))))).findings == []


def test_directory_instead_of_a_file_is_the_permissions_finding() -> None:
    f = only(judge("COOKIE005", facts(view(local=cookie(source(regular=False, mode="0755", value=None))))))
    assert "is not a regular file" in f.message


def test_server_cookie_owned_by_root_cannot_be_read_by_rabbitmq() -> None:
    local = cookie(source("server_file", SERVER, owner="root", expected_owner="rabbitmq"))
    f = only(judge("COOKIE006", facts(view(local=local))))
    assert "owned by root, not rabbitmq" in f.message
    assert "chown rabbitmq:rabbitmq /var/lib/rabbitmq/.erlang.cookie" in f.remediation


def test_mode_without_owner_read_and_unreadable_explicit_file_are_unreadable() -> None:
    blind = only(judge("COOKIE004", facts(view(local=cookie(source(mode="0200"))))))
    assert "does not let its owner root read it" in blind.message and "eacces" in blind.message
    denied = ProbeError(kind="denied", detail="cannot read /etc/preflight/cookie as bob: Permission denied")
    local = cookie(source(readable=False, value=None, error=denied), effective=None)
    f = only(judge("COOKIE004", facts(view(local=local))))
    assert "Permission denied" in f.message


def test_bad_characters_are_the_content_finding() -> None:
    local = cookie(source(value=None, content_problem="bad_characters"), effective=None)
    f = only(judge("COOKIE007", facts(view(local=local))))
    assert "Bad characters in cookie" in f.message


def test_edge_spaces_are_a_warning() -> None:
    spaced = STRONG.model_copy(update={"edge_spaces": True})
    f = only(judge("COOKIE008", facts(view(local=cookie(source(value=spaced))))))
    assert f.severity == "warning" and "begins or ends with a space" in f.message


def test_same_file_given_twice_is_judged_once() -> None:
    local = cookie(source(path=SERVER, mode="0644"), source("server_file", SERVER, mode="0644"))
    assert len(judge("COOKIE005", facts(view(local=local))).findings) == 1


# --- COOKIE009: server vs CLI ----------------------------------------------------------------------


def test_cli_cookie_differing_from_the_server_is_a_warning() -> None:
    local = cookie(source("env", present=False, value=None), source("server_file", SERVER),
                   source("user_file", "/home/alice/.erlang.cookie", value=OTHER), user="alice",
                   effective="server_file")
    f = only(judge("COOKIE009", facts(view(on="rabbit@r1", local=local))))
    assert f.severity == "warning" and f.node == "rabbit@r1"
    assert f"alice's CLI cookie (/home/alice/.erlang.cookie, {OTHER.fingerprint}) differs" in f.message
    assert "sudo install -m 400 -o alice /var/lib/rabbitmq/.erlang.cookie ~alice/.erlang.cookie" in f.remediation


def test_cli_user_without_a_cookie_will_get_a_random_one() -> None:
    local = cookie(source("server_file", SERVER), source("user_file", "/home/bob/.erlang.cookie", present=False,
                                                         value=None), user="bob", effective="server_file")
    assert "will create a random cookie" in only(judge("COOKIE009", facts(view(local=local)))).message


def test_server_and_cli_cookie_comparison_edge_cases() -> None:
    same = cookie(source("server_file", SERVER), source("user_file", "/home/a/.erlang.cookie"), user="a")
    assert statuses(judge("COOKIE009", facts(view(local=same)))) == {None: "pass"}
    root = cookie(source("server_file", SERVER), user="root")
    assert statuses(judge("COOKIE009", facts(view(local=root)))) == {None: "skipped"}
    unreadable = cookie(source("server_file", SERVER, readable=False, value=None), user="a", effective=None)
    assert statuses(judge("COOKIE009", facts(view(local=unreadable)))) == {None: "unknown"}


# --- security --------------------------------------------------------------------------------------


def test_weak_cookie_is_a_security_warning_naming_why() -> None:
    f = only(judge("SEC001", facts(view(local=cookie(source(value=WEAK))))))
    assert f.family == "security" and f.severity == "warning"
    assert "well-known value" in f.message and "only 8 characters" in f.message and "low variety" in f.message
    assert "openssl rand -hex 32" in f.remediation


def test_weak_cookie_is_an_error_when_a_dist_port_is_reachable_from_another_host() -> None:
    v = view(node("rabbit@a", dist="open"), local=cookie(source(value=WEAK)))
    f = only(judge("SEC001", facts(v)))
    assert f.severity == "error" and "tcp/25672 of rabbit@a is reachable from checker" in f.message


def test_dist_port_reachable_only_from_its_own_host_does_not_escalate() -> None:
    v = view(node("rabbit@a", dist="open"), on="rabbit@a", host="a", local=cookie(source(value=WEAK)))
    assert only(judge("SEC001", facts(v))).severity == "warning"


def test_strong_cookie_passes_and_no_readable_cookie_is_unknown() -> None:
    assert statuses(judge("SEC001", facts(view(local=cookie(source()))))) == {None: "pass"}
    nothing = cookie(source(readable=False, value=None), effective=None)
    assert statuses(judge("SEC001", facts(view(local=nothing)))) == {None: "unknown"}


def test_exposed_server_cookie_is_judged_for_strength_too() -> None:
    beam = ErlangProcess(pid=7, user="rabbitmq", rabbit=True, cookie_in_cmdline=True, cookie_in_env=False,
                         exposed=WEAK)
    f = only(judge("SEC001", facts(view(local=cookie(source(), processes=[beam])))))
    assert "the running broker (pid 7)" in f.message


def test_setcookie_on_a_command_line_is_a_warning_naming_the_process() -> None:
    beam = ErlangProcess(pid=4350, user="rabbitmq", rabbit=True, cookie_in_cmdline=True, cookie_in_env=False)
    f = only(judge("SEC002", facts(view(on="rabbit@r1", local=cookie(source(), processes=[beam])))))
    assert f.node == "rabbit@r1" and f.severity == "warning"
    assert "pid 4350 (beam.smp, RabbitMQ, user rabbitmq)" in f.message and "`ps`" in f.message


def test_process_that_cannot_be_inspected_is_unknown_not_pass() -> None:
    hidden = ErlangProcess(pid=9, user="rabbitmq", rabbit=True, cookie_in_cmdline=None, cookie_in_env=None)
    local = cookie(source(), user="alice", processes=[hidden])
    for rule_id in ("SEC002", "SEC003"):
        report = judge(rule_id, facts(view(local=local)))
        assert statuses(report) == {None: "unknown"} and "cannot inspect pid 9" in report.findings[0].message


def test_no_erlang_vm_on_the_host_skips_the_exposure_checks() -> None:
    assert statuses(judge("SEC002", facts(view(local=cookie(source()))))) == {None: "skipped"}


def test_env_var_cookie_is_info_with_the_version_specific_status() -> None:
    beam = ErlangProcess(pid=5, user="rabbitmq", rabbit=True, cookie_in_cmdline=False, cookie_in_env=True)
    v = view(node("rabbit@r1", version="3.10.8"), on="rabbit@r1", local=cookie(source(), processes=[beam]))
    f = only(judge("SEC003", facts(v)))
    assert f.severity == "info" and "takes its cookie from RABBITMQ_ERLANG_COOKIE" in f.message
    assert "on RabbitMQ 3.10.8 the server honours it, but CLI tools print" in f.message


@pytest.mark.parametrize(("version", "words"), [
    ("3.8.5", "the server ignores it"),
    ("3.9.0", "deprecation warning"),
    ("3.12.14", "server honours it, but CLI tools"),
    ("3.13.7", "accept it without warning"),
    ("4.1.0", "undeprecate"),
    (None, "since 3.9.4"),
])
def test_env_var_status_follows_the_release_history(version: str | None, words: str) -> None:
    assert words in env_var_status(version)
