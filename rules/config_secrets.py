"""Family `config`: secrets in the files — committed cookies, cookies in the environment, the default
`guest` account and `loopback_users` switched off.

A cookie written in a compose file, manifest or env file is in the repository's history for good;
SEC001's weakness test (`rules.security.weaknesses`) says whether it is also guessable. Only the
cookie's traits reach the facts (length, variety, fingerprint), never the value.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from rabbitmq_preflight.rule import Fail, Pass, Result, Skip, rule
from rabbitmq_preflight.rules._config import documents, node_configs
from rabbitmq_preflight.rules.security import weaknesses

if TYPE_CHECKING:
    from rabbitmq_preflight.configfiles.model import EnvSetting
    from rabbitmq_preflight.facts import Facts

COOKIE_FIX = ("generate one per environment outside the repository (`openssl rand -hex 32`), store it as a "
              "secret (Kubernetes Secret, Docker secret mounted as /var/lib/rabbitmq/.erlang.cookie) and rotate it")


def _committed(facts: Facts) -> Iterator[EnvSetting]:
    seen: set[tuple[str, int]] = set()
    for doc in documents(facts):
        for e in [*doc.env, *doc.secrets, *(e for w in doc.workloads for e in w.env)]:
            if e.cookie is not None and (e.file, e.line) not in seen:
                seen.add((e.file, e.line))
                yield e


@rule(
    id="CONF010", slug="config-cookie-committed", family="config", severity="error",
    title="An Erlang cookie is written in a config file",
    rationale="""
        Whoever reads the repository knows the cookie, and whoever knows it and reaches port 25672 runs
        code on every node. A committed cookie is also the same for every environment deployed from the
        file. When SEC001's test finds it guessable as well, the finding is critical.
    """,
    remediation=COOKIE_FIX,
)
def config_cookie_committed(facts: Facts) -> Iterator[Result]:
    found = False
    for e in _committed(facts):
        found = True
        assert e.cookie is not None
        weak = weaknesses(e.cookie)
        detail = f"; it is also weak: {'; '.join(weak)}" if weak else ""
        yield Fail(None, f"{e.file}:{e.line}: {e.name} holds a literal Erlang cookie{detail}",
                   subject=f"{e.file}:{e.name}", file=e.file, line=e.line,
                   severity="critical" if weak else None,
                   evidence={"length": e.cookie.length, "weak": weak,
                             **({"fingerprint": e.cookie.fingerprint} if not weak else {})})
    if not found:
        yield Pass(None) if documents(facts) else Skip(None, "no config files given")


@rule(
    id="CONF011", slug="config-cookie-in-env", family="config", severity="warning",
    title="The Erlang cookie is passed in an environment variable",
    rationale="""
        RABBITMQ_ERLANG_COOKIE is deprecated since 3.9 (the official image stopped handling it) and an
        environment variable is shown by `docker inspect`, `kubectl describe` and /proc/PID/environ to
        whoever can read them. The cookie belongs in /var/lib/rabbitmq/.erlang.cookie (mode 0400).
    """,
    remediation=("mount the cookie as a file: a Docker/Kubernetes secret at /var/lib/rabbitmq/.erlang.cookie "
                 "(mode 0400, owner rabbitmq), and remove the variable"),
)
def config_cookie_in_env(facts: Facts) -> Iterator[Result]:
    for node in node_configs(facts):
        for e in node.env:
            if e.name.endswith("ERLANG_COOKIE") or e.name in {"RABBITMQ_ERL_COOKIE"}:
                yield Fail(node.label, f"{e.file}:{e.line}: {node.label} passes the cookie in {e.name}",
                           subject=f"{e.file}:{node.label}:{e.name}", file=e.file, line=e.line,
                           remediation=f"delete line {e.line} of {e.file} and mount the cookie as a secret file "
                                       "at /var/lib/rabbitmq/.erlang.cookie (mode 0400)")


DEFAULT_USER_KEYS = ("default_pass", "rabbit.default_pass")


@rule(
    id="CONF012", slug="config-default-credentials", family="config", severity="error",
    title="The default account keeps the password `guest`",
    rationale="""
        `guest`/`guest` is the first pair anyone tries. With loopback_users disabled it opens the broker
        (management UI included) to the network.
    """,
    remediation="set default_user/default_pass (or RABBITMQ_DEFAULT_USER/PASS from a secret) to a non-default pair",
)
def config_default_credentials(facts: Facts) -> Iterator[Result]:
    seen: set[tuple[str, int]] = set()
    for node in node_configs(facts):
        hits = [(e.file, e.line, e.name) for e in node.env if e.default_password]
        hits += [(s.file, s.line, s.key) for s in [*node.settings, *node.advanced]
                 if s.key in DEFAULT_USER_KEYS and s.value.strip('"<>') == "guest"]
        for file, line, name in hits:
            if (file, line) in seen:
                continue
            seen.add((file, line))
            yield Fail(node.label, f"{file}:{line}: {name} sets the password `guest`",
                       subject=f"{file}:{name}", file=file, line=line)


@rule(
    id="CONF013", slug="config-loopback-users-disabled", family="config", severity="error",
    title="loopback_users is disabled: `guest` can log in from other hosts",
    rationale="""
        RabbitMQ lets `guest` connect only from localhost. `loopback_users.guest = false` (or
        `loopback_users = none`, `{loopback_users, []}`) removes that guard; with the default password
        the broker is open to anyone who reaches it.
    """,
    remediation="delete the line and create a named administrator (rabbitmqctl add_user / default_user)",
)
def config_loopback_disabled(facts: Facts) -> Iterator[Result]:
    seen: set[tuple[str, int]] = set()
    for node in node_configs(facts):
        for s in [*node.settings, *node.advanced]:
            off = (s.key == "loopback_users.guest" and s.value == "false") or \
                  (s.key == "loopback_users" and s.value == "none") or \
                  (s.key == "rabbit.loopback_users" and s.value.replace(" ", "") in {"[]", "[none]"})
            if off and (s.file, s.line) not in seen:
                seen.add((s.file, s.line))
                yield Fail(node.label, f"{s.file}:{s.line}: `{s.key} = {s.value}` lets guest log in remotely",
                           subject=f"{s.file}:{s.key}", file=s.file, line=s.line,
                           remediation=f"delete line {s.line} of {s.file}; create a named user for remote access")
