"""Secrets a peer echoes back (the password in a 400/500 reason, the Basic header) reach no output."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import quote

import pytest

from rabbitmq_preflight.collect import collect
from rabbitmq_preflight.collect.options import CollectOptions
from rabbitmq_preflight.engine import run_rules
from rabbitmq_preflight.inventory import Inventory, ManagementSection, NodeSpec
from rabbitmq_preflight.record import Secret
from rabbitmq_preflight.redact import REDACTED, Redactor
from rabbitmq_preflight.render import RenderContext, render
from rabbitmq_preflight.render.github import summary_markdown
from rabbitmq_preflight.rules import all_rules
from tests.fakes.mgmt import Answer, FakeApi, serve

USER = "monitoring"
PASSWORD = 'Pa"ss\\w/rd+&= x9'  # quotes, a backslash, URL-special characters: every form differs


def forms(secret: str, user: str | None = None) -> dict[str, str]:
    out = {"raw": secret, "json": json.dumps(secret)[1:-1], "url": quote(secret, safe="")}
    if user:
        out["basic"] = base64.b64encode(f"{user}:{secret}".encode()).decode()
    return out


@dataclass
class EchoingApi(FakeApi):
    """A management API (or the proxy in front of it) that quotes the request's credentials back."""

    def answer(self, path: str, query: dict[str, str]) -> Answer:
        f = forms(PASSWORD, USER)
        reason = (f"invalid credentials {f['raw']} for {USER} (Authorization: Basic {f['basic']}; "
                  f"form: password={f['url']})")
        return Answer.json({"error": "bad_request", "reason": reason}, 500 if path != "/api/nodes" else 400)


@contextmanager
def echoing_api() -> Iterator[int]:
    ready, stop = threading.Event(), threading.Event()
    port: list[int] = []

    async def main() -> None:
        async with serve(EchoingApi()) as api:
            port.append(api.port)
            ready.set()
            while not stop.is_set():
                await asyncio.sleep(0.02)

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        yield port[0]
    finally:
        stop.set()
        thread.join(10)


def test_redactor_replaces_every_form_and_is_free_without_secrets() -> None:
    r = Redactor.of(user=USER, password=PASSWORD, cookie=b"ABCDEFGHIJKLMNOPQRST\n")
    cookie_forms = ["ABCDEFGHIJKLMNOPQRST", base64.b64encode(b"ABCDEFGHIJKLMNOPQRST").decode()]
    for form in [*forms(PASSWORD, USER).values(), *cookie_forms]:
        assert r(f"x {form} y") == f"x {REDACTED} y"
    assert not Redactor.of() and Redactor.of()("anything") == "anything"


def test_a_password_echoed_in_an_http_error_is_in_no_output_format_and_not_in_the_facts() -> None:
    with echoing_api() as port:
        spec = NodeSpec(name="rabbit@localhost", address="127.0.0.1", management_port=port, amqp_port=1,
                        epmd_port=1, dist_port=1)
        inv = Inventory(nodes=[spec], management=ManagementSection(user=USER, password=Secret(PASSWORD)))
        facts = collect(inv, CollectOptions.of(inv, timeout=1.0, deadline=8.0, no_handshake=True))
    report = run_rules(facts, list(all_rules()))
    ctx = RenderContext(rules=all_rules(), inventory_path="inventory.toml", exit_code=1)
    outputs = {fmt: render(fmt, report, ctx) for fmt in ("text", "json", "sarif", "junit", "github")}
    outputs["facts"] = facts.to_json()
    outputs["step-summary"] = summary_markdown(report, ctx)
    for name, text in outputs.items():
        for kind, form in forms(PASSWORD, USER).items():
            assert form not in text, f"{kind} form of the password in the {name} output"
    assert REDACTED in outputs["json"] and REDACTED in outputs["facts"]  # the echo was there, and was cut


def test_redaction_at_scale_costs_next_to_nothing() -> None:
    """The pass never walks the queue table: 100,000 queues add nothing measurable."""
    from tests.ha_facts import facts, management, queue

    big = facts(management(queues=[queue(f"orders.q{i}", node="rabbit@a") for i in range(100_000)]))
    r = Redactor.of(user=USER, password=PASSWORD, cookie=b"ABCDEFGHIJKLMNOPQRST")
    best = float("inf")
    for _ in range(3):  # the best of three: a loaded machine's pauses are not the pass's cost
        t0 = time.perf_counter()
        r.scrub(big)
        best = min(best, time.perf_counter() - t0)
    assert best < 0.005


@pytest.mark.parametrize("password", ["abc", ""])
def test_trivially_short_secrets_do_not_blank_out_every_detail(password: str) -> None:
    assert Redactor.of(user=USER, password=password)("abc abc") == "abc abc"
