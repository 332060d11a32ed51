"""Family `security`: who else could learn or guess the Erlang cookie.

Whoever knows the cookie and reaches a node's distribution port (25672) can run any code on it as the
rabbitmq user. These rules judge the cookie's strength and where it is visible: a `-setcookie` on a
command line (`ps` shows it to every local user), or RABBITMQ_ERLANG_COOKIE in a process environment.
Facts: `View.cookie` (fingerprints and properties only) and the dist port checks.
Source: docs/reference.md §4.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from rabbitmq_preflight.rule import Fail, Pass, Result, Skip, Unknown, rule
from rabbitmq_preflight.rules._util import origin_label
from rabbitmq_preflight.rules.cookies import (
    SERVER_COOKIE,
    effective_source,
    fix_file,
    not_collected,
    server_cookie,
    views,
)
from rabbitmq_preflight.versioning import Version

if TYPE_CHECKING:
    from rabbitmq_preflight.configfiles.model import CookieTraits
    from rabbitmq_preflight.facts import CookieFacts, CookieValue, ErlangProcess, Facts, Origin, View

MIN_LENGTH = 20  # what Erlang itself generates: 20 random uppercase letters
MIN_DISTINCT = 8


def weaknesses(value: CookieValue | CookieTraits) -> list[str]:
    """Why a cookie is guessable, in words; empty when it is not (also for a cookie written in a config file)."""
    out = []
    if value.well_known:
        out.append("a well-known value copied from documentation or compose files")
    if value.length < MIN_LENGTH:
        out.append(f"only {value.length} characters (fewer than {MIN_LENGTH})")
    if value.distinct_chars < MIN_DISTINCT or value.repeated_pattern:
        out.append(f"low variety ({value.distinct_chars} distinct characters"
                   f"{', a repeated pattern' if value.repeated_pattern else ''})")
    return out


def _candidates(cookie: CookieFacts) -> dict[str, tuple[str, CookieValue]]:
    """The cookies that matter on a host, by fingerprint: the one tested, the server's, exposed ones."""
    found: dict[str, tuple[str, CookieValue]] = {}
    tested = effective_source(cookie)
    server, server_label = server_cookie(cookie)
    for label, value in [(tested.label if tested else "", tested.value if tested else None), (server_label, server)]:
        if value is not None:
            found.setdefault(value.fingerprint, (label, value))
    return found


def _remote_dist(facts: Facts) -> tuple[str, str, int] | None:
    """(node, from where, port) of a distribution port open to a host other than the node's own."""
    for view in facts.views:
        for name, nf in view.nodes.items():
            dist = nf.ports.get("dist")
            if dist is not None and dist.status == "open" and view.origin.node != name:
                return name, origin_label(view.origin), dist.port
    return None


@rule(
    id="SEC001",
    slug="cookie-weak",
    family="security",
    severity="warning",
    title="The Erlang cookie is weak",
    rationale="""
        Whoever knows the cookie and reaches the distribution port can run any code on the node, as
        the rabbitmq user. A short, low-variety or published cookie can be guessed; its fingerprint
        (the MD5 that `erlang_cookie_hash` and the boot log print) can be brute-forced offline. The
        finding is an error when a distribution port is reachable from another host.
    """,
    remediation="""
        Generate a long random cookie (`openssl rand -hex 32`), install it on every node and CLI host
        at once (owner rabbitmq, mode 400), restart the nodes, and firewall 25672/4369 to cluster hosts.
    """,
)
def cookie_weak(facts: Facts) -> Iterator[Result]:
    exposed_port = _remote_dist(facts)
    for view, cookie in views(facts):
        if cookie is None:
            yield not_collected(view)
            continue
        found = _candidates(cookie)
        if not found:
            yield Unknown(view.origin.node, f"no cookie could be read on {origin_label(view.origin)}")
            continue
        weak = [(label, value, reasons) for label, value in found.values() if (reasons := weaknesses(value))]
        for label, value, reasons in weak:
            yield _weak(view.origin, label, value, reasons, exposed_port)
        if not weak:
            yield Pass(view.origin.node)


def _weak(origin: Origin, label: str, value: CookieValue, reasons: list[str],
          exposed: tuple[str, str, int] | None) -> Fail:
    reach = (f"; tcp/{exposed[2]} of {exposed[0]} is reachable from {exposed[1]}, so anyone there who guesses it "
             f"controls the node" if exposed else "")
    return Fail(
        origin.node, subject=label, severity="error" if exposed else None,
        evidence={"source": label, "length": value.length, "distinct_chars": value.distinct_chars,
                  "well_known": value.well_known, "reasons": reasons, "dist_reachable_from": exposed and exposed[1]},
        message=f"the Erlang cookie from {label} on {origin_label(origin)} is weak: {'; '.join(reasons)}{reach}",
        remediation=(
            "On every node at once: `openssl rand -hex 32 | tr -d '\\n' > /tmp/new.cookie`, install it as "
            f"{SERVER_COOKIE} ({fix_file(SERVER_COOKIE)}), restart the nodes, update CLI users' "
            "~/.erlang.cookie; allow tcp/25672 and tcp/4369 only from cluster and CLI hosts."
        ),
    )


def _process_label(p: ErlangProcess) -> str:
    return f"pid {p.pid} (beam.smp{', RabbitMQ' if p.rabbit else ''}, user {p.user or 'unknown'})"


def _process_results(facts: Facts, flag: str) -> Iterator[tuple[View, list[ErlangProcess]] | Result]:
    """Per view: the processes, or why they cannot be judged (unknown) or need not be (skip)."""
    for view, cookie in views(facts):
        node = view.origin.node
        if cookie is None or cookie.processes is None:
            yield Unknown(node, f"local processes were not inspected on {origin_label(view.origin)}")
        elif cookie.processes.value is None:
            yield Unknown(node, cookie.processes.reason())
        elif not cookie.processes.value:
            yield Skip(node, f"no Erlang VM runs on {origin_label(view.origin)}")
        else:
            blind = [p for p in cookie.processes.value if getattr(p, flag) is None]
            if blind:
                yield Unknown(node, f"cannot inspect {_process_label(blind[0])} as {cookie.user}: run preflight as "
                                    "root or as the broker's user")
            yield view, cookie.processes.value


@rule(
    id="SEC002",
    slug="cookie-in-command-line",
    family="security",
    severity="warning",
    title="The Erlang cookie is visible on a process command line",
    rationale="""
        `-setcookie VALUE` (e.g. through RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS or RABBITMQ_CTL_ERL_ARGS)
        puts the cookie on the command line, which every local user can read with `ps`.
    """,
    remediation="""
        Remove `-setcookie` from the Erlang arguments and keep the cookie in
        /var/lib/rabbitmq/.erlang.cookie (owner rabbitmq, mode 400); restart the node.
    """,
)
def cookie_in_command_line(facts: Facts) -> Iterator[Result]:
    for item in _process_results(facts, "cookie_in_cmdline"):
        if not isinstance(item, tuple):
            yield item
            continue
        view, procs = item
        exposed = [p for p in procs if p.cookie_in_cmdline]
        for p in exposed:
            yield Fail(view.origin.node, subject=f"erlang-vm {p.user or ''}".strip(),
                       evidence={"pid": p.pid, "user": p.user, "rabbitmq": p.rabbit},
                       message=f"{_process_label(p)} on {origin_label(view.origin)} has `-setcookie` on its "
                       "command line: every local user can read the cookie with `ps`")
        if not exposed and all(p.cookie_in_cmdline is not None for p in procs):
            yield Pass(view.origin.node)


def env_var_status(version: str | None) -> str:
    """What RABBITMQ_ERLANG_COOKIE means for a given RabbitMQ version (reference §4, history)."""
    v = Version.parse(version) if version else None
    later = "later releases undeprecate it (rabbitmq-server PR #17501)"
    if v is None:
        return ("the server honours it since 3.9.4; CLI tools 3.8.6–3.12 print a deprecation warning, 3.13+ "
                f"accept it silently, and {later}")
    if v.parts < (3, 8, 6):
        return f"on RabbitMQ {v.text} CLI tools honour it, the server ignores it (it does from 3.9.4)"
    if v.parts < (3, 9, 4):
        return (f"on RabbitMQ {v.text} the server ignores it (it does from 3.9.4) and CLI tools print a "
                "deprecation warning")
    if v.parts < (3, 13):
        return (f"on RabbitMQ {v.text} the server honours it, but CLI tools print \"RABBITMQ_ERLANG_COOKIE env "
                "variable support is deprecated\" (3.8.6–3.12)")
    return (f"on RabbitMQ {v.text} server and CLI tools accept it without warning (erlang_cookie_sources still "
            f"labels it deprecated); {later}")


def _local_version(facts: Facts, origin: Origin) -> str | None:
    for view in facts.views:
        for name, nf in view.nodes.items():
            if (origin.node in (None, name)) and nf.amqp is not None and nf.amqp.value is not None:
                return nf.amqp.value.version
    return None


@rule(
    id="SEC003",
    slug="cookie-in-environment",
    family="security",
    severity="info",
    title="The Erlang cookie is set through RABBITMQ_ERLANG_COOKIE",
    rationale="""
        The variable works (for the server since 3.9.4), but its status changed across versions
        (deprecated for CLI tools 3.8.6–3.12, silent since 3.13, undeprecated later), it overrides the
        cookie file without rewriting it, and it is visible to root and the process owner in
        /proc/PID/environ and to anyone who can read the compose file or unit that sets it.
    """,
    remediation="Prefer the cookie file (mode 400); if you keep the variable, set it from a secret store.",
)
def cookie_in_environment(facts: Facts) -> Iterator[Result]:
    for view, cookie in views(facts):
        if cookie is not None and (env := cookie.source("env")) is not None and env.present:
            status = env_var_status(_local_version(facts, view.origin))
            yield Fail(view.origin.node, subject="env:preflight",
                       message=f"RABBITMQ_ERLANG_COOKIE is set for {cookie.user} on {origin_label(view.origin)} "
                       f"(preflight tested it): {status}")
    for item in _process_results(facts, "cookie_in_env"):
        if not isinstance(item, tuple):
            yield item
            continue
        view, procs = item
        status = env_var_status(_local_version(facts, view.origin))
        with_env = [p for p in procs if p.cookie_in_env]
        for p in with_env:
            yield Fail(view.origin.node, subject=f"env:erlang-vm {p.user or ''}".strip(),
                       evidence={"pid": p.pid, "user": p.user, "rabbitmq": p.rabbit},
                       message=f"{_process_label(p)} on {origin_label(view.origin)} takes its cookie from "
                       f"RABBITMQ_ERLANG_COOKIE: {status}")
        if not with_env and all(p.cookie_in_env is not None for p in procs):
            yield Pass(view.origin.node)
