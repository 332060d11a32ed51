"""Family `cluster`: the run itself — facts that a collector failed to gather, a deadline cut short,
a management API that refused us, a waiver that has expired.

None is a property of the cluster, but each changes what the other checks could say; saying so
once, with the cause, beats a page of unexplained unknowns.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import TYPE_CHECKING

from rabbitmq_preflight.rule import Fail, Pass, Result, Skip, rule
from rabbitmq_preflight.rules._shell import on_host
from rabbitmq_preflight.rules._util import origin_label

if TYPE_CHECKING:
    from rabbitmq_preflight.facts import Facts


@rule(
    id="RUN001",
    slug="collector-failed",
    family="cluster",
    severity="error",
    title="A collector failed internally, so some facts are missing",
    rationale="""
        A collector raised an unexpected error instead of recording a typed outcome. That is a
        bug in preflight, not a property of the cluster; the facts it should have gathered are
        missing and the checks that need them report unknown.
    """,
    remediation="Report it (with `PREFLIGHT_DEBUG=1 preflight collect …` output); meanwhile the other checks stand.",
)
def collector_failed(facts: Facts) -> Iterator[Result]:
    for view in facts.views:
        errors = view.origin.collector_errors
        if not errors:
            yield Pass(None)
            continue
        yield Fail(
            None, subject=f"collectors on {origin_label(view.origin)}",
            message=f"{len(errors)} collector(s) failed on {origin_label(view.origin)}: {'; '.join(errors[:5])}",
            evidence={"errors": errors},
        )


@rule(
    id="RUN002",
    slug="deadline-reached",
    family="cluster",
    severity="warning",
    title="The run's deadline cut collection short",
    rationale="""
        Probes still running at the deadline were abandoned; their facts are missing and the
        checks that need them report unknown. Usually one very slow peer or API (a large queue
        listing) is the cause.
    """,
    remediation="Raise `deadline` (inventory) or `--deadline`, or find the slow peer in the unknown findings.",
)
def deadline_reached(facts: Facts) -> Iterator[Result]:
    for view in facts.views:
        if not view.origin.deadline_reached:
            yield Pass(None)
            continue
        yield Fail(
            None, subject=f"deadline on {origin_label(view.origin)}",
            message=f"collection on {origin_label(view.origin)} reached its deadline after "
            f"{view.origin.duration_ms / 1000:.1f} s; facts still being gathered were abandoned",
            remediation="Raise `deadline` in the inventory (or `--deadline`), or fix the slow peer named by the "
            "unknown findings.",
            evidence={"duration_ms": view.origin.duration_ms},
        )


_API_FIXES = {
    "auth_failed": "the user or password is wrong: check `[management] user` and the password file "
    "(`rabbitmqctl authenticate_user USER PASSWORD` on a node tells which)",
    "forbidden": "the user lacks a tag: `rabbitmqctl set_user_tags USER monitoring` "
    "(feature flags need `administrator`)",
    "not_found": "the management plugin is not enabled there: `rabbitmq-plugins enable rabbitmq_management`",
    "bad_reply": "something other than the RabbitMQ management API answers on that port (a proxy, "
    "another web service, or TLS expected: set `scheme = \"https\"`)",
    "http_error": "the API failed on the node's side: see the node's log",
}


@rule(
    id="RUN003",
    slug="management-api-refused",
    family="cluster",
    severity="error",
    title="A node's management API answers, but not with what preflight asked for",
    rationale="""
        The node's HTTP port answers, but with 401/403 (credentials or tags), 404 (plugin not
        enabled), a server error, or something that is not the management API at all. Every
        check that needs the API (node types, HA coverage, feature flags) then reports unknown.
    """,
    remediation="Fix the credentials, tags or plugin named in the finding, then run again.",
)
def management_api_refused(facts: Facts) -> Iterator[Result]:
    for view in facts.views:
        for name, nf in view.nodes.items():
            obs = nf.management
            if obs is None or obs.error is None:
                if obs is not None:
                    yield Pass(name)
                continue
            fix = _API_FIXES.get(obs.error.kind)
            if fix is None:
                continue  # refused / filtered / unreachable: the port rules say it
            yield Fail(
                name, subject="management-api",
                message=obs.error.detail,
                remediation=f"{on_host(name)}: {fix}.",
                evidence={"kind": obs.error.kind},
            )


@rule(
    id="WAIVER001",
    slug="waiver-expired",
    family="cluster",
    severity="warning",
    title="A waiver in the inventory has expired",
    rationale="""
        A waiver accepts a known finding until a date. Once that date has passed it no longer applies,
        so the finding it covered counts again; saying so names the reason it was accepted, so the
        operator can tell whether the change it waited for ever happened.
    """,
    remediation="Fix the finding it covered, or renew the waiver with a new `expires` date.",
)
def waiver_expired(facts: Facts) -> Iterator[Result]:
    today = dt.date.today()
    for w in facts.inventory.waivers:
        if w.expires >= today:
            continue
        yield Fail(
            w.node, subject=f"waiver:{w.rule}",
            message=(
                f"waiver for {w.rule!r}{' on ' + w.node if w.node else ''} expired on "
                f"{w.expires.isoformat()} and no longer applies (reason was: {w.reason})"
            ),
            evidence={"rule": w.rule, "expires": w.expires.isoformat()},
        )
    yield Pass(None)


@rule(
    id="RUN004",
    slug="discovered-member",
    family="cluster",
    severity="warning",
    title="A cluster member is not in the inventory, so its cookie was not checked",
    rationale="""
        The management API lists a member the inventory does not. Its name, address and ports come
        from an answer preflight cannot authenticate (a hostile API, or anyone on its plain-HTTP path,
        writes it), so the member is reported and probed only by what presents no secret: TCP
        connects, EPMD, AMQP's unauthenticated Connection.Start. The Erlang distribution handshake is
        not run with it — presenting the cookie to an address a peer chose lets that peer relay a real
        node's challenge and obtain an authenticated distribution link (code execution on the
        cluster) — and the management password is not sent to it. Its cookie check is `skipped`.
    """,
    remediation="If the member is yours, list it in the inventory (`[[nodes]]` with its `name` and "
    "`address`) and run again: then its cookie is checked and its API asked.",
)
def discovered_member(facts: Facts) -> Iterator[Result]:
    ran = False
    for view in facts.views:
        found = view.discovery
        if found is None or found.answered_by is None:
            continue
        ran = True
        for name in found.added:
            spec = facts.inventory.node(name)
            if spec is not None and not spec.discovered:
                continue  # another snapshot's inventory lists it: checked there
            yield Fail(
                name, subject="inventory",
                message=f"{name} is a cluster member ({found.answered_by}'s management API lists it) that "
                f"the inventory does not list: probed from {origin_label(view.origin)} without secrets only; "
                "its Erlang cookie was not checked and no credentials were sent to it",
                remediation=f"If {name} is yours, add it to the inventory — `[[nodes]]` `name = \"{name}\"` "
                "with its `address` — and run again to check its cookie.",
                evidence={"listed_by": found.answered_by, "address": spec.target if spec else None},
            )
        if found.left_out:
            yield Fail(
                None, subject="inventory",
                message=f"{found.answered_by}'s management API lists {found.left_out + len(found.added)} members "
                f"the inventory does not: only the first {len(found.added)} were probed and are reported above; "
                f"{found.left_out} more were left out (a cap on what an unauthenticated answer may add to a run) "
                "— not probed, not checked",
                remediation="List the cluster's real members in the inventory and run again; a management API "
                "naming thousands of members you do not know is itself worth investigating.",
                evidence={"listed_by": found.answered_by, "added": len(found.added), "left_out": found.left_out},
            )
    if ran:
        yield Pass(None)
    else:
        yield Skip(None, "no member discovery ran (it needs [management] credentials and an answering API)")
