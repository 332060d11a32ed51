"""Config files as facts: `with_config` parses them into `Facts.config` and hands definitions exports
to the existing definitions source (preflight/definitions.py), so their policies and queues are judged
by the HA rules exactly as `check --definitions` judges them.
"""

from __future__ import annotations

import datetime as dt
import socket
from pathlib import Path

from rabbitmq_preflight import __version__
from rabbitmq_preflight.configfiles.load import load_config
from rabbitmq_preflight.configfiles.model import ConfigFacts, ParseProblem
from rabbitmq_preflight.configfiles.schema import series_of
from rabbitmq_preflight.errors import UsageError
from rabbitmq_preflight.facts import Facts, HostConfig, InventorySummary, Origin, View
from rabbitmq_preflight.inventory import Inventory


def live_series(facts: Facts | None) -> tuple[str, str] | None:
    """The series every probed node runs (from its AMQP greeting), and how to say where it came from;
    None when no node answered or they run different series (then no single table fits)."""
    if facts is None:
        return None
    seen: dict[str, str] = {}
    for node in facts.node_names:
        for _origin, nf in facts.observations(node):
            if nf.amqp is not None and nf.amqp.ok and nf.amqp.value and nf.amqp.value.version:
                seen[node] = nf.amqp.value.version
                break
    series = {series_of(v) for v in seen.values()}
    if len(series) != 1 or None in series:
        return None
    (one,) = series
    assert one is not None
    return one, "the live cluster (" + ", ".join(f"{n} {v}" for n, v in sorted(seen.items())) + ")"


def with_config(facts: Facts | None, paths: tuple[Path, ...], target: str | None, target_from: str | None,
                inventory: Inventory | None = None) -> Facts:
    live = live_series(facts)
    if target is not None:
        series = series_of(target)
        if series is None:
            raise UsageError(f"--rabbitmq {target!r}: expected a series like 3.13 or 4.1")
        target = series
    documents = load_config(list(paths))
    if facts is None:
        origin = Origin(hostname=socket.gethostname(), collected_at=dt.datetime.now(dt.UTC))
        summary = InventorySummary.of(inventory) if inventory is not None else \
            InventorySummary(cluster="config", source=", ".join(str(p) for p in paths), nodes=[])
        facts = Facts(tool_version=__version__, inventory=summary, views=[View(origin=origin)])
    from rabbitmq_preflight.definitions import DefinitionsError, with_definitions

    for doc in documents:
        if doc.kind != "definitions" or doc.problems:
            continue
        try:
            facts = with_definitions(facts, Path(doc.file))
        except DefinitionsError as exc:
            doc.problems.append(ParseProblem(file=doc.file, line=None, message=exc.lines[0].removeprefix(
                f"{doc.file}: ")))
    config = ConfigFacts(documents=documents, target=target, target_from=target_from,
                         live=live[0] if live else None, live_from=live[1] if live else None)
    return facts.model_copy(update={"config": config})


def with_host_configs(facts: Facts, target: str | None, target_from: str | None) -> Facts:
    """Add the config files read on each node's host over SSH (`View.host.config`) to `Facts.config`, beside
    any files given with `--config`: the `config` rules then judge them as they judge local files, each
    host's files as one node (rules/_config.py). Unchanged when no host's config was collected."""
    hosts: dict[str, list[str]] = {}
    documents = []
    for view in facts.views:
        found = view.host.config if view.host is not None else None
        if found is None or view.origin.node is None or view.origin.node in hosts:
            continue
        hosts[view.origin.node] = unread(found)
        documents += found.documents
    if not hosts:
        return facts
    if facts.config is not None:
        merged = facts.config.model_copy(update={"documents": [*facts.config.documents, *documents],
                                                 "hosts": {**facts.config.hosts, **hosts}})
        return facts.model_copy(update={"config": merged})
    live = live_series(facts)
    series = series_of(target) if target is not None else None
    config = ConfigFacts(documents=documents, hosts=hosts, target=series, target_from=target_from if series else None,
                         live=live[0] if live else None, live_from=live[1] if live else None)
    return facts.model_copy(update={"config": config})


def unread(config: HostConfig) -> list[str]:
    """`path: why` for each file the node uses that the collector could not read."""
    why = {"denied": "not readable by the SSH user", "too_large": "too large to collect", "error": "not a file"}
    return [f"{f.path}: {why[f.status]}" + (f" ({f.detail})" if f.detail else "")
            for f in config.files if f.status in why]
