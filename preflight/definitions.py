"""A definitions export (`rabbitmqctl export_definitions`, `GET /api/definitions`) as facts.

`preflight check --definitions FILE` judges HA coverage before the definitions are deployed: the
export's policies, operator policies (runtime parameters of component `operator_policy`) and queues
(with their declared type and x-arguments) become a `ManagementFacts` of source "definitions", in a
view of their own, beside whatever the live probes or saved facts say about the nodes. The export
also holds users with password hashes: that section is never read into facts.

A queue's type is its `type` key (newer exports), else its `x-queue-type` argument, else its vhost's
default queue type (3.11+ `default_queue_type`), else classic. Exclusive queues are never exported.

Every format RabbitMQ writes is read:
- the whole-cluster export (`GET /api/definitions`, `rabbitmqctl export_definitions`);
- the per-vhost export (`GET /api/definitions/{vhost}`, the management UI's per-vhost download):
  queues, policies and parameters carry no `vhost` and there is no `vhosts` list. Newer releases
  name the vhost (`original_vhost_name`); a 3.x per-vhost export does not, and the vhost is chosen
  when it is imported — such a file is judged as if imported into the default vhost `/`
  (`PER_VHOST_DEFAULT`); only names in messages depend on that choice;
- `rabbitmqctl export_definitions` writes an operator policy's `definition` as a list of
  `[key, value]` pairs; it is read as the object it stands for;
- an export with only users, vhosts and permissions (RabbitMQ loads one at boot): nothing to judge
  for HA, and nothing wrong with it.
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
PER_VHOST_DEFAULT = "/"  # the vhost a per-vhost export without `original_vhost_name` is judged in
# The top-level keys RabbitMQ writes into an export (rabbit_definitions, 3.8-4.x); a JSON object with
# none of them is not an export.
EXPORT_KEYS = frozenset({
    "rabbit_version", "rabbitmq_version", "product_name", "product_version", "users", "vhosts",
    "permissions", "topic_permissions", "parameters", "global_parameters", "policies", "operator_policies",
    "queues", "exchanges", "bindings", "rabbitmq_definition_format", "original_vhost_name",
})


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
    except json.JSONDecodeError as exc:
        raise DefinitionsError(f"{where}: not JSON ({exc.msg} at line {exc.lineno} column {exc.colno}; "
                               "expected a definitions export)") from None
    except (ValueError, RecursionError):
        raise DefinitionsError(f"{where}: not JSON (expected a definitions export)") from None
    if not isinstance(data, dict) or not EXPORT_KEYS.intersection(data):
        raise DefinitionsError(f"{where}: not a RabbitMQ definitions export (none of users, vhosts, "
                               "policies, queues, version…)")
    return data


def per_vhost_name(data: dict[str, Any]) -> str | None:
    """The vhost a per-vhost export stands for, or None for a whole-cluster export.

    Per-vhost: RabbitMQ says so (`rabbitmq_definition_format: single_virtual_host`, 4.x), or — 3.x —
    there is no `vhosts` list and a queue or exchange names no vhost (3.10.8 still writes `vhost` on
    policies and parameters: that names the vhost, when they agree on one).
    """
    named = data.get("original_vhost_name")
    if data.get("rabbitmq_definition_format") == "single_virtual_host":
        return named if isinstance(named, str) else PER_VHOST_DEFAULT
    if "vhosts" in data:
        return None
    lists = [data.get(key) for key in ("queues", "exchanges", "bindings")]
    if not any(isinstance(i, dict) and "vhost" not in i for found in lists if isinstance(found, list)
               for i in found):
        return None
    if isinstance(named, str):
        return named
    others = [data.get(key) for key in ("policies", "parameters")]
    seen = {i["vhost"] for found in others if isinstance(found, list) for i in found
            if isinstance(i, dict) and isinstance(i.get("vhost"), str)}
    return seen.pop() if len(seen) == 1 else PER_VHOST_DEFAULT


def _pairs(definition: Any) -> Any:
    """`rabbitmqctl export_definitions` writes an operator policy's definition as [[key, value], …]."""
    if isinstance(definition, list) and all(
            isinstance(p, list) and len(p) == 2 and isinstance(p[0], str) for p in definition):
        return {k: v for k, v in definition}
    return definition


def _list(data: dict[str, Any], key: str, where: str) -> list[dict[str, Any]]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise DefinitionsError(f"{where}: `{key}` is not a list")
    return [item for item in value if isinstance(item, dict)]


def _default_queue_types(data: dict[str, Any], where: str, scope: str | None) -> dict[str, str]:
    out: dict[str, str] = {}
    if scope is not None:  # a per-vhost export carries its vhost's metadata at the top
        top = data.get("metadata")
        qtype = data.get("default_queue_type") or (top.get("default_queue_type") if isinstance(top, dict) else None)
        if isinstance(qtype, str) and qtype != "undefined":
            out[scope] = qtype
    for vhost in _list(data, "vhosts", where):
        meta = vhost.get("metadata")
        meta = meta if isinstance(meta, dict) else {}
        qtype = vhost.get("default_queue_type") or meta.get("default_queue_type")
        if isinstance(vhost.get("name"), str) and isinstance(qtype, str) and qtype != "undefined":
            out[vhost["name"]] = qtype
    return out


def _policy(item: dict[str, Any], where: str, vhost: str | None) -> Policy:
    item = {**item, "definition": _pairs(item.get("definition"))}
    return policy_of(item, where, vhost=vhost if vhost is not None and "vhost" not in item else None)


def _operator_policies(data: dict[str, Any], where: str, scope: str | None) -> list[Policy]:
    found = []
    for param in _list(data, "parameters", where):
        value, vhost = param.get("value"), param.get("vhost", scope)
        if param.get("component") == "operator_policy" and isinstance(value, dict) and isinstance(vhost, str):
            found.append(_policy({**value, "name": param.get("name")}, where, vhost))
    return found + [_policy(item, where, scope) for item in _list(data, "operator_policies", where)]


def _queue(item: dict[str, Any], defaults: dict[str, str], where: str, scope: str | None) -> QueueRow:
    name, vhost = item.get("name"), item.get("vhost", scope)
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
    scope = per_vhost_name(data)
    try:
        policies = [_policy(item, where, scope) for item in _list(data, "policies", where)]
        operator = _operator_policies(data, where, scope)
    except BadReply as exc:
        raise DefinitionsError(exc.detail) from None
    defaults = _default_queue_types(data, where, scope)
    rows = [_queue(item, defaults, where, scope) for item in _list(data, "queues", where)]
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
