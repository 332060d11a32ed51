"""The HTML report: a verdict, the cluster map, the reachability matrix, findings apart by how they count,
HA coverage — all escaped, nothing fetched. Read back with the standard library's HTML parser, so the
tests look at elements and attributes rather than at substrings."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import re
from html.parser import HTMLParser
from pathlib import Path

from rabbitmq_preflight.contract import Severity
from rabbitmq_preflight.facts import ClusterNode, Facts, Observation, Policy
from rabbitmq_preflight.picture import picture_of
from rabbitmq_preflight.render import RenderContext, render
from rabbitmq_preflight.report import Report
from tests import factories as fx
from tests.conftest import run_preflight
from tests.gating_samples import finding, sample_context, sample_report
from tests.ha_facts import facts as ha_facts
from tests.ha_facts import management, queue


class Page(HTMLParser):
    """Elements with their attributes and text, flat: enough to ask what a browser would show."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.texts: list[str] = []
        self.scripts: list[str] = []
        self._in_script = False
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {k: v or "" for k, v in attrs}))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        (self.scripts if self._in_script else self.texts).append(data)

    def find(self, tag: str, **attrs: str) -> list[dict[str, str]]:
        return [a for t, a in self.elements if t == tag and all(a.get(k.rstrip("_").replace("_", "-")) == v
                                                              for k, v in attrs.items())]

    @property
    def text(self) -> str:
        return "".join(self.texts)


def three_nodes_seen_from_one_host() -> Facts:
    b_ports = [fx.port("epmd", 4369), fx.port("amqp", 5672, "timeout", detail="no answer in 2.0 s", latency_ms=None),
               fx.port("management", 15672, speaks_protocol=False, protocol_detail="answers SSH")]
    return fx.facts(fx.node("rabbit@a", ports=[fx.port("amqp", 5672, speaks_protocol=True, latency_ms=0.7),
                                               fx.port("epmd", 4369), fx.port("dist", 25672),
                                               fx.port("management", 15672)]),
                    fx.node("rabbit@b", ports=b_ports),
                    fx.node("rabbit@c", down=True), hostname="checker")


def html_of(report: Report, facts: Facts | None = None, fail_on: Severity = "error") -> Page:
    base = sample_context(report, fail_on=fail_on)
    context = dataclasses.replace(base, picture=picture_of(facts) if facts is not None else None)
    return Page(render("html", report, context))


def test_the_matrix_marks_each_port_as_the_host_saw_it_with_the_latency_on_hover() -> None:
    page = html_of(sample_report(), three_nodes_seen_from_one_host())
    states = {(a["data-node"], a["data-role"]): a["data-state"] for a in page.find("td") if "data-state" in a}
    assert states[("rabbit@a", "amqp")] == "open"
    assert states[("rabbit@b", "amqp")] == "filtered"  # a timeout: dropped by a firewall, or a silent peer
    assert states[("rabbit@b", "management")] == "wrong protocol"
    assert states[("rabbit@b", "dist")] == "not checked"
    assert states[("rabbit@c", "amqp")] == "refused"
    assert len(states) == 3 * 4
    title = next(a["title"] for a in page.find("td", data_node="rabbit@a", data_role="amqp"))
    assert "port 5672" in title and "0.7 ms" in title
    assert [a["data-source"] for a in page.find("tr") if "data-source" in a] == ["checker"]


def test_every_host_of_merged_facts_is_a_row_of_the_matrix() -> None:
    from rabbitmq_preflight.facts import merge_facts

    one = three_nodes_seen_from_one_host()
    other = fx.facts(fx.node("rabbit@a"), fx.node("rabbit@b"), fx.node("rabbit@c"), hostname="b",
                     origin_node="rabbit@b")
    page = html_of(sample_report(), merge_facts([one, other]))
    assert [a["data-source"] for a in page.find("tr") if "data-source" in a] == ["checker", "b"]


def test_node_cards_carry_identity_and_show_the_nodes_findings_coloured_by_the_worst() -> None:
    f = three_nodes_seen_from_one_host()
    page = html_of(sample_report(), f)
    cards = {a["data-node"]: a for a in page.find("section") if "card" in a.get("class", "")}
    assert set(cards) == {"rabbit@a", "rabbit@b", "rabbit@c"}
    assert cards["rabbit@c"]["data-worst"] == "critical"  # PORT003
    assert cards["rabbit@b"]["data-worst"] == "error"  # PORT001
    assert "rabbit@b: tcp/5672 (AMQP) on b refused the connection from checker" in page.text
    assert "amqp port 5672: filtered from checker" in page.text  # rabbit@b's card: what failed, from where
    assert "Erlang/OTP 25.2.3" in page.text and "3.10.8" in page.text


def test_the_verdict_follows_fail_on() -> None:
    report = sample_report()
    assert html_of(report).find("header")[0]["data-verdict"] == "fail"
    assert html_of(report, fail_on="critical").find("header")[0]["data-verdict"] == "fail"
    quiet = sample_report([finding("VER001", "version-mismatch", "version", "warning", "rabbit@a")])
    assert html_of(quiet).find("header")[0]["data-verdict"] == "pass"
    assert html_of(quiet, fail_on="warning").find("header")[0]["data-verdict"] == "fail"


def test_waived_baseline_and_unknown_findings_are_shown_apart_from_the_failures() -> None:
    page = html_of(sample_report())
    failures = {a["data-rule"] for a in page.find("div") if "finding" in a.get("class", "") and "data-rule" in a}
    assert {"PORT002", "PORT004", "VER003"}.isdisjoint(failures)
    assert {"PORT001", "PORT003", "VER001", "WAIVER001"} <= failures
    assert {a["data-rule"] for a in page.find("tr") if "data-rule" in a} == {"PORT002", "PORT004"}
    assert "waived: DR site, firewall change CHG-1234 pending" in page.text
    assert "could not be performed: VER003" in page.text


def test_a_queue_named_script_renders_as_text_and_no_script_runs_but_ours() -> None:
    evil = "<script>alert(1)</script>"
    mgmt = management(policies=[Policy(vhost="/", name='"><img src=x onerror=alert(2)>', pattern="^ha\\.",
                                       definition={"ha-mode": "all"})],
                      queues=[queue(evil), queue("ha.one"), queue(evil, vhost=evil)])
    report = sample_report([finding("HA001", "queue-not-replicated", "ha-policy", "error", None,
                                    message=f"queue {evil} is not replicated", remediation=f"declare '{evil}'",
                                    evidence={"queue": evil})])
    page = html_of(report, ha_facts(mgmt))
    assert len(page.find("script")) == 1 and page.find("img") == []
    assert f"queue {evil} is not replicated" in page.text  # shown, as text
    assert evil in [a["data-vhost"] for a in page.find("tr") if "data-vhost" in a]
    assert "policy \"><img src=x onerror=alert(2)>: 1" in page.text


def test_the_page_fetches_nothing_and_allows_only_its_own_script() -> None:
    out = render("html", sample_report(), dataclasses.replace(sample_context(sample_report()),
                                                               picture=picture_of(three_nodes_seen_from_one_host())))
    page = Page(out)
    csp = next(a["content"] for a in page.find("meta") if a.get("http-equiv") == "Content-Security-Policy")
    assert "default-src 'none'" in csp
    digest = base64.b64encode(hashlib.sha256(page.scripts[0].encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in csp  # the inline script, and nothing else, may run
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", out)
    assert "@import" not in out and "url(" not in out


def test_ha_coverage_per_vhost_names_the_replicating_policy() -> None:
    mgmt = management(policies=[Policy(vhost="/", name="ha-orders", pattern="^orders\\.",
                                       definition={"ha-mode": "all"})],
                      queues=[queue("orders.new"), queue("orders.paid"), queue("audit"),
                              queue("payments", qtype="quorum"), queue("x", vhost="other")])
    picture = picture_of(ha_facts(mgmt))
    assert picture.coverage is not None
    by_vhost = {vh.vhost: vh for vh in picture.coverage}
    assert (by_vhost["/"].queues, by_vhost["/"].replicated, by_vhost["/"].not_replicated) == (4, 3, 1)
    assert by_vhost["/"].by_policy == {"policy ha-orders": 2, "(quorum queue)": 1}
    assert by_vhost["other"].not_replicated == 1
    page = html_of(sample_report(), ha_facts(mgmt))
    assert [a["data-vhost"] for a in page.find("tr") if "data-vhost" in a] == ["/", "other"]


def test_without_a_policy_source_coverage_says_why() -> None:
    picture = picture_of(three_nodes_seen_from_one_host())
    assert picture.coverage is None
    assert picture.coverage_note == "neither the management API nor a definitions file was read"


def test_cluster_members_come_from_the_management_api() -> None:
    mgmt = management(nodes=[ClusterNode(name="rabbit@a", type="ram", running=False, rabbitmq_version="3.10.8")])
    f = ha_facts(mgmt)
    card = picture_of(f).cards[0]
    assert (card.name, card.type, card.running, card.type_expected) == ("rabbit@a", "ram", False, False)
    f.views[0].management = Observation(value=mgmt)  # unchanged: the same facts give the same card
    assert picture_of(f).cards[0] == card


def test_without_facts_the_page_lists_the_nodes_of_the_findings() -> None:
    page = html_of(sample_report())
    cards = [a["data-node"] for a in page.find("section") if "card" in a.get("class", "")]
    assert cards == ["rabbit@a", "rabbit@b", "rabbit@c"]
    assert "No facts were at hand" in page.text


def test_join_verdicts_are_shown_with_their_steps() -> None:
    from rabbitmq_preflight.report import JoinPlan, JoinStep

    report = sample_report().model_copy(update={"join": [JoinPlan(
        node="rabbit@d", into="rabbit@a", verdict="will fail", reasons=["cookie rejected"],
        steps=[JoinStep(host="d", command="rabbitmqctl stop_app", why="stop the app")])]})
    page = html_of(report)
    assert page.find("div", class_="join", data_node="rabbit@d")
    assert "will fail" in page.text and "rabbitmqctl stop_app" in page.text


def test_render_context_picture_defaults_to_none() -> None:
    assert RenderContext().picture is None


def test_check_writes_html_to_stdout_and_to_a_report_file_from_the_facts_of_two_hosts(tmp_path: Path) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(three_nodes_seen_from_one_host().to_json())
    b.write_text(fx.facts(fx.node("rabbit@a"), fx.node("rabbit@b"), fx.node("rabbit@c"), hostname="hostb").to_json())
    out = tmp_path / "report.html"
    result = run_preflight("check", "--facts", str(a), "--facts", str(b), "--format", "html",
                           "--report", f"html:{out}")
    assert result.returncode == 1, result.stderr
    assert out.read_text() == result.stdout
    page = Page(result.stdout)
    assert [x["data-source"] for x in page.find("tr") if "data-source" in x] == ["checker", "hostb"]
    assert page.find("td", data_node="rabbit@b", data_role="amqp")[0]["data-state"] == "filtered"


def test_the_all_pairs_matrix_of_check_ssh_is_drawn_when_the_report_has_one() -> None:
    from rabbitmq_preflight.report import ReachabilityCell, ReachabilityRow

    rows = [ReachabilityRow(source="checker", cells=[ReachabilityCell(node="rabbit@a", role="dist", port=25672,
                                                                      status="open")]),
            ReachabilityRow(source="rabbit@b", node="rabbit@b", via="ssh", cells=[
                ReachabilityCell(node="rabbit@a", role="dist", port=25672, status="timeout")]),
            ReachabilityRow(source="rabbit@c", node="rabbit@c", via="ssh", collected=False,
                            reason="ssh: Permission denied (publickey)")]
    report = sample_report().model_copy(update={"reachability": rows})
    page = html_of(report, three_nodes_seen_from_one_host())
    assert [(a["data-source"], a["data-via"]) for a in page.find("tr") if "data-source" in a] == [
        ("checker", "local"), ("rabbit@b", "ssh"), ("rabbit@c", "ssh")]
    by_row = [a for a in page.find("td") if a.get("data-node") == "rabbit@a" and a.get("data-role") == "dist"]
    assert [a["data-state"] for a in by_row] == ["open", "filtered", "not collected"]
    assert "Permission denied (publickey)" in by_row[2]["title"]
