"""Which rabbitmq.conf keys each RabbitMQ series accepts, and with which datatype.

The table (`data/schema_keys.json`) is derived by `scripts/gen_config_schema.py` from the cuttlefish
schema files of rabbitmq/rabbitmq-server at one release tag per series (the tag and commit are in
the file). A key belongs to the application whose schema maps it: `rabbit` is always loaded, a
plugin's keys only when the plugin (or one that depends on it) is enabled — otherwise cuttlefish
stops the boot with "unknown variable", exactly as for a misspelt key.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from rabbitmq_preflight.record import lean

CORE_APPS = frozenset({"rabbit"})
BACKEND_PLUGINS = {  # peer discovery backends and the plugin that provides each
    "classic_config": None, "dns": None, "aws": "rabbitmq_peer_discovery_aws", "k8s": "rabbitmq_peer_discovery_k8s",
    "consul": "rabbitmq_peer_discovery_consul", "etcd": "rabbitmq_peer_discovery_etcd",
}


@lean(frozen=True)
class KeyInfo:
    """One rabbitmq.conf key pattern of a schema: the application that maps it, and its datatype."""

    app: str
    pattern: str
    datatype: str  # compact Erlang term text, "" when the schema declares none


@cache
def _table() -> dict[str, Any]:
    from importlib import resources  # ~7 ms, and only a config file's judging needs the table

    text = resources.files("rabbitmq_preflight.configfiles").joinpath("data/schema_keys.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def all_series() -> tuple[str, ...]:
    return tuple(sorted(_table()["series"], key=lambda s: tuple(int(p) for p in s.split("."))))


def source_tag(series: str) -> str:
    return str(_table()["series"][series]["tag"])


@cache
def _index(series: str) -> tuple[dict[str, KeyInfo], dict[int, list[tuple[tuple[str, ...], KeyInfo]]]]:
    exact: dict[str, KeyInfo] = {}
    patterns: dict[int, list[tuple[tuple[str, ...], KeyInfo]]] = {}
    for app, keys in _table()["series"][series]["apps"].items():
        for pattern, datatype in keys.items():
            info = KeyInfo(app, pattern, datatype)
            parts = tuple(pattern.split("."))
            if any(p.startswith("$") for p in parts):
                patterns.setdefault(len(parts), []).append((parts, info))
            else:
                exact.setdefault(pattern, info)
    return exact, patterns


def lookup(key: str, series: str) -> KeyInfo | None:
    """The schema mapping that accepts `key` in `series`, or None."""
    exact, patterns = _index(series)
    if key in exact:
        return exact[key]
    parts = key.split(".")
    for pparts, info in patterns.get(len(parts), ()):
        if all(p.startswith("$") or p == k for p, k in zip(pparts, parts, strict=True)):
            return info
    return None


def series_accepting(key: str) -> list[str]:
    return [s for s in all_series() if lookup(key, s) is not None]


def plugin_closure(plugins: set[str], series: str) -> set[str]:
    """The plugins enabled with their dependencies (enabling a plugin enables what it depends on)."""
    deps: dict[str, list[str]] = _table()["series"][series]["plugin_deps"]
    out, todo = set(), list(plugins)
    while todo:
        p = todo.pop()
        if p not in out:
            out.add(p)
            todo.extend(deps.get(p, []))
    return out


@cache
def known_keys(series: str) -> tuple[str, ...]:
    exact, patterns = _index(series)
    return (*exact, *(info.pattern for group in patterns.values() for _, info in group))


def series_of(version: str | None) -> str | None:
    """"3.13.1-management" -> "3.13" when that series is in the table."""
    if not version:
        return None
    parts = version.split(".")
    if len(parts) < 2 or not parts[0].isdigit():
        return None
    minor = "".join(c for c in parts[1] if c.isdigit()) if parts[1][:1].isdigit() else ""
    if not minor:
        return None
    return f"{int(parts[0])}.{int(minor)}"
