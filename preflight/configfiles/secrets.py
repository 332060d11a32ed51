"""Values that must not be kept: cookies become their secret-free traits, passwords only say `guest`."""

from __future__ import annotations

from rabbitmq_preflight.configfiles.model import REDACTED, CookieTraits, EnvSetting
from rabbitmq_preflight.configfiles.rabbitmq_conf import templated

COOKIE_VARS = frozenset({"RABBITMQ_ERLANG_COOKIE", "ERLANG_COOKIE", "RABBITMQ_COOKIE"})
PASSWORD_VARS = frozenset({"RABBITMQ_DEFAULT_PASS", "RABBITMQ_PASSWORD", "RABBITMQ_DEFAULT_PASS_FILE"})
COOKIE_KEYS = frozenset({".erlang.cookie", "erlang-cookie", "erlang_cookie", "erlangCookie", "cookie",
                         "rabbitmq-erlang-cookie", "RABBITMQ_ERLANG_COOKIE"})


def cookie_traits(value: str) -> CookieTraits:
    from rabbitmq_preflight.collect.cookie import Cookie, describe

    return CookieTraits(**describe(Cookie(value.encode("utf-8", "surrogatepass"))).model_dump())


def env_setting(name: str, value: str, file: str, line: int) -> EnvSetting:
    """An environment assignment with any secret replaced by what can be said about it."""
    literal = bool(value) and value != REDACTED and not templated(value) and "$(" not in value  # REDACTED: on its host
    if name in COOKIE_VARS or name.endswith("ERLANG_COOKIE"):
        return EnvSetting(name=name, value=value if not literal else REDACTED, file=file, line=line,
                          cookie=cookie_traits(value) if literal else None)
    if name in PASSWORD_VARS or name.endswith("_PASS") or name.endswith("PASSWORD"):
        return EnvSetting(name=name, value=value if not literal else REDACTED, file=file, line=line,
                          default_password=literal and value == "guest")
    return EnvSetting(name=name, value=value, file=file, line=line)
