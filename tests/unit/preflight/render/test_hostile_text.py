"""Hostile text from peers in every renderer: escape sequences never reach a terminal or a CI log,
lone surrogates crash nothing, NaN/Infinity never make a JSON or SARIF report invalid JSON."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from rabbitmq_preflight.facts import Observation, Policy, QueueRow, QueueTable
from rabbitmq_preflight.render import printable, render
from rabbitmq_preflight.report import Finding
from tests.gating_samples import finding, sample_context, sample_report
from tests.ha_facts import facts, management

# clear the screen, retitle the window (OSC 0 … BEL), an 8-bit CSI, a fake line, a right-to-left override
HOSTILE = "orders.q\x1b[2J\x1b]0;pwned\x07\x9b31m\r\nPASS: nothing at or above error\u202e"
OUR_COLOURS = re.compile(r"\x1b\[[0-9;]*m")
RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e]")


def hostile_finding(**extra: Any) -> Finding:
    return finding("HA001", "queue-not-replicated", "ha-policy", "error", "rabbit@a\x1b[5m",
                   message=f"queue {HOSTILE} is not replicated", remediation=f"declare {HOSTILE} again", **extra)


def test_printable_escapes_controls_and_leaves_clean_text_alone() -> None:
    assert printable("rabbit@a: tcp/5672 — refused") == "rabbit@a: tcp/5672 — refused"
    assert printable("a\x1b]0;x\x07b") == "a\\x1b]0;x\\x07b"
    assert printable("\x9b\x7f\u202e\ud800") == "\\x9b\\x7f\\u202e\\ud800"
    assert printable("a\r\nb", keep_newlines=True) == "a\r\nb"


@pytest.mark.parametrize("color", [False, True])
def test_escape_sequences_in_peer_names_reach_no_terminal(color: bool) -> None:
    report = sample_report([hostile_finding()])
    ctx = sample_context(report)
    out = render("text", report, type(ctx)(**{**ctx.__dict__, "color": color}))
    assert RAW_CONTROL.search(OUR_COLOURS.sub("", out).replace("\n", "")) is None
    assert "\\x1b[2J" in out and "\\x1b]0;pwned\\x07" in out and "\\x9b31m" in out
    assert "\nPASS: nothing" not in out.split("FAIL:")[0]  # the peer's CR LF forges no line


def test_escape_sequences_reach_no_github_annotation_or_step_summary() -> None:
    from rabbitmq_preflight.render.github import summary_markdown

    report = sample_report([hostile_finding()])
    ctx = sample_context(report)
    for out in (render("github", report, ctx), summary_markdown(report, ctx)):
        assert RAW_CONTROL.search(out.replace("\n", "")) is None
        assert "\\x1b[2J" in out


def strict_json(text: str) -> object:
    def refuse(constant: str) -> object:
        raise AssertionError(f"invalid JSON constant {constant}")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("fmt", ["text", "json", "sarif", "junit", "github", "html"])
def test_lone_surrogates_and_nan_from_the_api_crash_no_renderer(fmt: str) -> None:
    f = finding("HA001", "queue-not-replicated", "ha-policy", "error", "rabbit@a",
                message="queue orders.\ud800 is not replicated",
                evidence={"queue": "orders.\udcff", "priority": float("nan"), "ratio": float("inf")})
    report = sample_report([f])
    out = render(fmt, report, sample_context(report))
    out.encode("utf-8")  # nothing the UTF-8 writer would choke on
    if fmt in ("json", "sarif"):
        strict_json(out)


def test_facts_with_surrogates_and_nan_from_the_api_serialize_to_valid_json() -> None:
    queues = [QueueRow(vhost="/", name="orders.\ud800", arguments={"x-max-length": float("nan")})]
    mgmt = management(policies=[Policy(vhost="/", name="p\udcff", pattern=".*", priority=float("inf"))])
    mgmt.queues = Observation(value=QueueTable(rows=queues))
    data: Any = strict_json(facts(mgmt).to_json())
    table = data["views"][0]["management"]["value"]["queues"]["value"]
    assert table["rows"][0][1] == "orders.\\ud800"  # shown as its escape, the rest of the file intact
