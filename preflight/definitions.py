"""A definitions export (`rabbitmqctl export_definitions`, `GET /api/definitions`) as facts.

`preflight check --definitions FILE` judges HA coverage before the definitions are deployed: the
export's policies, operator policies (runtime parameters of component `operator_policy`) and queues
(with their declared type and x-arguments) become a `ManagementFacts` of source "definitions", in a
view of their own, beside whatever the live probes or saved facts say about the nodes. The export
also holds users with password hashes: that section is never read into facts.

A queue's type is its `type` key (newer exports), else its `x-queue-type` argument, else its vhost's
default queue type (3.11+ `default_queue_type`), else classic. Exclusive queues are never exported.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import sys
from pathlib import Path
from typing import Any

from rabbitmq_preflight import __version__
from rabbitmq_preflight.collect.management_json import policy_of
from rabbitmq_preflight.errors import UsageError
from rabbitmq_preflight.facts import (
    Facts,
    InventorySummary,
    ManagementFacts,
    Observation,
    Origin,
    Policy,
    QueueRow,
    QueueTable,
    View,
)
from rabbitmq_preflight.inputs import InputFileError, MiB, read_input_file
from rabbitmq_preflight.outcomes import BadReply

MAX_FILE = 256 * MiB  # about a million queues; anything larger is not an export we can judge in memory


class DefinitionsError(UsageError):
    """The file cannot be read as a definitions export; one line for the user."""


def read_definitions(path: Path) -> dict[str, Any]:
    where = str(path)
    try:
        raw = read_input_file(path, what="definitions", limit=MAX_FILE)
    except InputFileError as exc:
        raise DefinitionsError(exc.lines) from None
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise DefinitionsError(f"{where}: not JSON (expected a definitions export)") from None
    if not isinstance(data, dict) or not any(k in data for k in ("policies", "queues", "rabbit_version",
                                                                 "rabbitmq_version")):
        raise DefinitionsError(f"{where}: not a RabbitMQ definitions export (no policies, queues or version)")
    return data


def _list(data: dict[str, Any], key: str, where: str) -> list[dict[str, Any]]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise DefinitionsError(f"{where}: `{key}` is not a list")
    return [item for item in value if isinstance(item, dict)]


def _default_queue_types(data: dict[str, Any], where: str) -> dict[str, str]:
    out = {}
    for vhost in _list(data, "vhosts", where):
        meta = vhost.get("metadata")
        meta = meta if isinstance(meta, dict) else {}
        qtype = vhost.get("default_queue_type") or meta.get("default_queue_type")
        if isinstance(vhost.get("name"), str) and isinstance(qtype, str) and qtype != "undefined":
            out[vhost["name"]] = qtype
    return out


def _operator_policies(data: dict[str, Any], where: str) -> list[Policy]:
    found = []
    for param in _list(data, "parameters", where):
        value, vhost = param.get("value"), param.get("vhost")
        if param.get("component") == "operator_policy" and isinstance(value, dict) and isinstance(vhost, str):
            found.append(policy_of({**value, "name": param.get("name")}, where, vhost=vhost))
    return found + [policy_of(item, where) for item in _list(data, "operator_policies", where)]


def _queue(item: dict[str, Any], defaults: dict[str, str], where: str) -> QueueRow:
    name, vhost = item.get("name"), item.get("vhost")
    if not isinstance(name, str) or not isinstance(vhost, str):
        raise DefinitionsError(f"{where}: a queue without a name or vhost string")
    arguments = item.get("arguments")
    arguments = arguments if isinstance(arguments, dict) else {}
    declared = item.get("type") or arguments.get("x-queue-type") or defaults.get(vhost) or "classic"
    return QueueRow(
        vhost=sys.intern(vhost), name=name, type=sys.intern(str(declared)),
        durable=item.get("durable") is not False, auto_delete=item.get("auto_delete") is True,
        arguments=arguments or None,
    )


def management_from_definitions(data: dict[str, Any], where: str) -> ManagementFacts:
    """The export's policies, operator policies and queues (users are never read)."""
    version = data.get("rabbitmq_version") or data.get("rabbit_version")
    try:
        policies = [policy_of(item, where) for item in _list(data, "policies", where)]
        operator = _operator_policies(data, where)
    except BadReply as exc:
        raise DefinitionsError(exc.detail) from None
    defaults = _default_queue_types(data, where)
    rows = [_queue(item, defaults, where) for item in _list(data, "queues", where)]
    return ManagementFacts(
        source="definitions", answered_by=where,
        rabbitmq_version=version if isinstance(version, str) else None,
        policies=Observation(value=policies), operator_policies=Observation(value=operator),
        queues=Observation(value=QueueTable(rows=rows, total_count=len(rows))),
    )


def definitions_view(path: Path) -> View:
    """A view holding only the definitions, observed on this host now."""
    management = management_from_definitions(read_definitions(path), str(path))
    origin = Origin(hostname=socket.gethostname(), collected_at=dt.datetime.now(dt.UTC))
    return View(origin=origin, management=Observation(value=management))


def with_definitions(facts: Facts | None, path: Path) -> Facts:
    """Add the definitions to live or saved facts, or make facts of them alone (no nodes known)."""
    view = definitions_view(path)
    if facts is not None:
        return facts.model_copy(update={"views": [*facts.views, view]})
    summary = InventorySummary(cluster="definitions", source=str(path), nodes=[])
    return Facts(tool_version=__version__, inventory=summary, views=[view])
