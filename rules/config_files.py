"""Family `config`: files the node will refuse at boot — unparseable lines, unknown or removed keys,
values of the wrong type — and keys of plugins that are not enabled, which boot but do nothing.

Cuttlefish translates rabbitmq.conf with the schemas of every application in the plugins directory
(rabbit_prelaunch_conf lists the directory; enabled or not — the lab test proves it on 3.10.8); a
line it cannot parse, a key no schema maps, or a value its datatype rejects stops the boot
("Conf file attempted to set unknown variable", "Error generating configuration"). The key tables
come from RabbitMQ's own schema files per release series (preflight/configfiles/data, regenerated
by scripts/gen_config_schema.py).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from functools import cache
from typing import TYPE_CHECKING

from rabbitmq_preflight.configfiles import erlang
from rabbitmq_preflight.configfiles.schema import (
    all_series,
    known_keys,
    lookup,
    plugin_closure,
    series_accepting,
    source_tag,
)
from rabbitmq_preflight.rule import Fail, Pass, Result, Skip, rule
from rabbitmq_preflight.rules._config import documents, unique_settings

if TYPE_CHECKING:
    from rabbitmq_preflight.facts import Facts

NO_CONFIG = "no config files given (preflight lint PATH / check --config PATH)"


@rule(
    id="CONF001", slug="config-unparseable", family="config", severity="error",
    title="A config file cannot be parsed",
    rationale="""
        RabbitMQ reads rabbitmq.conf, advanced.config and enabled_plugins at boot and refuses to start
        on a line it cannot parse. A compose file or manifest that is not valid YAML is refused by the
        tool that deploys it. Templates (.j2) are reported as warnings: the template engine may make
        them valid.
    """,
    remediation="Fix the line named in the finding (rabbitmq.conf: one `key = value` per line).",
)
def config_unparseable(facts: Facts) -> Iterator[Result]:
    docs = documents(facts)
    if not docs:
        yield Skip(None, NO_CONFIG)
        return
    for doc in docs:
        if not doc.problems:
            yield Pass(doc.host, subject=doc.file)
        for p in doc.problems:
            where = f"{p.file}:{p.line}" if p.line else p.file
            yield Fail(doc.host, f"{where}: {p.message}" + (" (a template: judged as written)" if p.template else ""),
                       subject=f"{p.file}:{p.line}", file=p.file, line=p.line,
                       severity="warning" if p.template else None, evidence={"kind": doc.kind})


@cache
def _suggest(key: str, series: str) -> str | None:
    """The known key `key` most resembles: first among keys of the same section, then among all."""
    keys = known_keys(series)
    section = key.split(".", 1)[0]
    for candidates in ([k for k in keys if k.split(".", 1)[0] == section], keys):
        close = difflib.get_close_matches(key, candidates, n=1, cutoff=0.8)
        if close:
            return close[0]
    return None


@rule(
    id="CONF002", slug="config-unknown-key", family="config", severity="error",
    title="rabbitmq.conf sets a key the target RabbitMQ version does not know",
    rationale="""
        Cuttlefish stops the boot on a key no loaded schema maps ("Conf file attempted to set unknown
        variable"): a typo, a key from another version (removed, e.g.
        cluster_formation.randomized_startup_delay_range.* in 4.0, or not added yet) or an
        advanced.config setting written in rabbitmq.conf. The tables come from RabbitMQ's schema files
        at each series' release tag; without a target version (--rabbitmq, the inventory's
        expect.rabbitmq or the image tag) only keys no series knows are reported.
    """,
    remediation="Remove the line, or replace it with the key the target version knows (the finding names it).",
)
def config_unknown_key(facts: Facts) -> Iterator[Result]:
    found = False
    for s, node in unique_settings(facts):
        found = True
        if s.templated and ("{{" in s.key or "{%" in s.key):
            continue
        targets = [node.series] if node.series in all_series() else list(all_series())
        if any(lookup(s.key, t) is not None for t in targets):
            yield Pass(node.label, subject=f"{s.file}:{s.key}")
            continue
        accepting = series_accepting(s.key)
        if node.series in all_series() and accepting:
            first, last = accepting[0], accepting[-1]
            target = node.series
            assert target is not None
            when = (f"removed after {last}" if all_series().index(last) < all_series().index(target)
                    else f"added in {first}")
            message = (f"{s.file}:{s.line}: `{s.key}` is not a {target} key ({when}); target {target} from "
                       f"{node.series_from}: RabbitMQ {target} refuses to boot")
            fix = f"delete line {s.line} of {s.file} (`{s.key}` exists in {', '.join(accepting)} only)"
        else:
            target = node.table_series
            scope = f"RabbitMQ {node.series}" if node.series in all_series() else \
                f"any RabbitMQ {all_series()[0]}–{all_series()[-1]}"
            message = f"{s.file}:{s.line}: `{s.key}` is not a key {scope} knows: the node refuses to boot"
            suggestion = _suggest(s.key, target)
            fix = (f"replace line {s.line} with `{suggestion} = {s.value}`" if suggestion else
                   f"delete line {s.line} of {s.file} (settings without a rabbitmq.conf key go to advanced.config)")
        yield Fail(node.label, message, subject=f"{s.file}:{s.key}", remediation=fix, file=s.file, line=s.line,
                   evidence={"key": s.key, "target": node.series, "target_from": node.series_from,
                             "accepted_by": accepting,
                             "table": {t: source_tag(t) for t in ([node.series] if node.series in all_series()
                                                                  else all_series())}})
    if not found:
        yield Skip(None, "no rabbitmq.conf settings given")


@rule(
    id="CONF003", slug="config-plugin-key-disabled", family="config", severity="warning",
    title="rabbitmq.conf sets a key of a plugin that is not enabled: it has no effect",
    rationale="""
        RabbitMQ loads the schemas of every plugin installed, enabled or not, so `stomp.listeners.tcp.1`
        without rabbitmq_stomp in enabled_plugins does not stop the boot — and nothing reads it: the
        listener, port or limit the line asks for never exists. The enabled plugins come from the
        enabled_plugins file linted with the config (same directory, mounted by the same service, or
        the same manifest), or the official image's defaults.
    """,
    remediation="Enable the plugin (add it to enabled_plugins) or remove the line.",
)
def config_plugin_key_disabled(facts: Facts) -> Iterator[Result]:
    for s, node in unique_settings(facts):
        if node.plugins is None:
            yield Skip(node.label, "which plugins are enabled is not known (lint enabled_plugins with the config)",
                       subject=f"{s.file}:{s.key}")
            continue
        series = node.table_series
        info = lookup(s.key, series)
        if info is None or info.app == "rabbit":
            continue
        enabled = plugin_closure(node.plugins, series)
        if info.app in enabled:
            yield Pass(node.label, subject=f"{s.file}:{s.key}")
            continue
        yield Fail(node.label,
                   f"{s.file}:{s.line}: `{s.key}` belongs to {info.app}, which is not enabled "
                   f"(enabled: {', '.join(sorted(node.plugins)) or 'none'}): the setting has no effect",
                   subject=f"{s.file}:{s.key}", file=s.file, line=s.line,
                   remediation=f"add {info.app} to enabled_plugins, or delete line {s.line} of {s.file}",
                   evidence={"key": s.key, "plugin": info.app, "enabled": sorted(node.plugins)})


def value_problem(value: str, datatype: str) -> str | None:
    """Why cuttlefish's datatype rejects `value`, or None when it accepts it (or we cannot tell)."""
    if not datatype:
        return None
    try:
        term = erlang.parse_term(datatype)
    except erlang.TermSyntaxError:
        return None
    alternatives = list(term.items) if isinstance(term, erlang.EList) else [term]
    reasons = []
    for alt in alternatives:
        reason = _check(value, alt)
        if reason is None:
            return None
        reasons.append(reason)
    return " or ".join(reasons)


def _check(value: str, datatype: erlang.Term) -> str | None:
    if isinstance(datatype, erlang.Atom):
        if datatype.name == "integer":
            return None if value.lstrip("+-").isdigit() else "an integer"
        if datatype.name == "float":
            try:
                float(value)
            except ValueError:
                return "a number"
            return None
        return None
    if isinstance(datatype, erlang.ETuple) and len(datatype.items) == 2 and isinstance(datatype.items[0], erlang.Atom):
        tag, arg = datatype.items[0].name, datatype.items[1]
        if tag == "enum" and isinstance(arg, erlang.EList):
            allowed = [str(a) for a in arg.items if isinstance(a, erlang.Atom | str)]
            return None if value in allowed else "one of " + ", ".join(str(a) for a in allowed)
        if tag == "atom" and isinstance(arg, erlang.Atom):
            return None if value == arg.name else f"`{arg.name}`"
        if tag == "integer" and isinstance(arg, int):
            return None if value == str(arg) else str(arg)
    return None


@rule(
    id="CONF004", slug="config-bad-value", family="config", severity="error",
    title="A rabbitmq.conf value is not of the type the key takes",
    rationale="""
        Each key has a datatype in RabbitMQ's schema (integer, an enum such as
        cluster_partition_handling's ignore | pause_minority | autoheal | pause_if_all_down, ...).
        Cuttlefish refuses a value of another type and the node does not boot.
    """,
    remediation="Write a value of the key's type (the finding lists what the schema accepts).",
)
def config_bad_value(facts: Facts) -> Iterator[Result]:
    for s, node in unique_settings(facts):
        if s.templated:
            continue
        series = node.table_series
        info = lookup(s.key, series)
        if info is None:
            continue
        reason = value_problem(s.value, info.datatype)
        if reason is None:
            yield Pass(node.label, subject=f"{s.file}:{s.key}")
            continue
        yield Fail(node.label, f"{s.file}:{s.line}: `{s.key} = {s.value}`: RabbitMQ {series} expects {reason}",
                   subject=f"{s.file}:{s.key}", file=s.file, line=s.line,
                   remediation=f"line {s.line}: `{s.key} = <{reason}>`",
                   evidence={"key": s.key, "value": s.value, "datatype": info.datatype, "series": series})
