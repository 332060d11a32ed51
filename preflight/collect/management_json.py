"""Management API JSON → facts models. Pure functions, shared with the definitions loader.

The API omits keys that do not apply (mirror lists on unmirrored queues, policy columns until the node
has emitted queue statistics, everything but name/type/running on a stopped node) and older versions
lack some keys altogether, so every field is optional here and a wrong type reads as absent. Only a
document of the wrong shape altogether (a dict where a list belongs, an item without a name) is a
`BadReply`. Repeated strings (vhosts, node names, policy names) are interned: 100,000 queue rows
share them instead of holding 100,000 copies.
"""

from __future__ import annotations

import sys
from typing import Any

from rabbitmq_preflight.facts import (
    ClusterNode,
    DeprecatedFeature,
    FeatureFlag,
    MgmtListener,
    MgmtOverview,
    Policy,
    PolicyOrder,
    QueueRow,
)
from rabbitmq_preflight.outcomes import BadReply, NotFound


def _str(item: dict[str, Any], key: str) -> str | None:
    value = item.get(key)
    return value if isinstance(value, str) else None


def _interned(item: dict[str, Any], key: str) -> str | None:
    value = item.get(key)
    return sys.intern(value) if isinstance(value, str) else None


def _bool(item: dict[str, Any], key: str) -> bool | None:
    value = item.get(key)
    return value if isinstance(value, bool) else None


def _names(item: dict[str, Any], key: str) -> list[str] | None:
    value = item.get(key)
    if not isinstance(value, list):
        return None
    return [sys.intern(v) for v in value if isinstance(v, str)]


def _int(item: dict[str, Any], key: str) -> int | None:
    value = item.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _dict(item: dict[str, Any], key: str) -> dict[str, Any] | None:
    value = item.get(key)
    if isinstance(value, dict):
        return value
    if value == []:  # an empty Erlang proplist encodes as []
        return {}
    return None


def _list(item: dict[str, Any], key: str) -> list[Any]:
    value = item.get(key)
    return value if isinstance(value, list) else []


def _items(raw: Any, what: str, where: str) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        raise BadReply(f"{where}: expected a list of {what}, got {type(raw).__name__}")
    return [item for item in raw if isinstance(item, dict)]


def _required_str(item: dict[str, Any], key: str, what: str, where: str) -> str:
    value = item.get(key)
    if not isinstance(value, str):
        raise BadReply(f"{where}: a {what} without a {key!r} string")
    return value


def parse_overview(raw: Any, where: str = "/api/overview") -> MgmtOverview:
    if not isinstance(raw, dict):
        raise BadReply(f"{where}: expected an object, got {type(raw).__name__}")
    listeners = []
    for item in _list(raw, "listeners"):
        if isinstance(item, dict) and isinstance(item.get("node"), str) and isinstance(item.get("port"), int):
            listeners.append(MgmtListener(
                node=item["node"], protocol=_str(item, "protocol") or "?", port=item["port"],
                ip_address=_str(item, "ip_address"),
            ))
    return MgmtOverview(
        node=_str(raw, "node"), rabbitmq_version=_str(raw, "rabbitmq_version"),
        erlang_version=_str(raw, "erlang_version"), product_name=_str(raw, "product_name"),
        product_version=_str(raw, "product_version"), management_version=_str(raw, "management_version"),
        cluster_name=_str(raw, "cluster_name"), listeners=listeners,
    )


def _rabbit_version(item: dict[str, Any]) -> str | None:
    for app in _list(item, "applications"):
        if isinstance(app, dict) and app.get("name") == "rabbit" and isinstance(app.get("version"), str):
            return str(app["version"])
    return None


def parse_nodes(raw: Any, where: str = "/api/nodes") -> list[ClusterNode]:
    nodes = []
    for item in _items(raw, "nodes", where):
        node_type = item.get("type")
        nodes.append(ClusterNode(
            name=_required_str(item, "name", "node", where),
            type=node_type if node_type in ("disc", "ram") else None,
            running=_bool(item, "running"),
            partitions=_names(item, "partitions") or [],
            mem_alarm=_bool(item, "mem_alarm"), disk_free_alarm=_bool(item, "disk_free_alarm"),
            rabbitmq_version=_rabbit_version(item),
            mem_used=_int(item, "mem_used"), mem_limit=_int(item, "mem_limit"),
            disk_free=_int(item, "disk_free"), disk_free_limit=_int(item, "disk_free_limit"),
            fd_used=_int(item, "fd_used"), fd_total=_int(item, "fd_total"),
            sockets_used=_int(item, "sockets_used"), sockets_total=_int(item, "sockets_total"),
            net_ticktime=_int(item, "net_ticktime"), being_drained=_bool(item, "being_drained"),
        ))
    return nodes


def parse_deprecated_features(raw: Any, where: str = "/api/deprecated-features/used") -> list[DeprecatedFeature]:
    return [
        DeprecatedFeature(
            name=_required_str(item, "name", "deprecated feature", where),
            deprecation_phase=_str(item, "deprecation_phase"), state=_str(item, "state"),
            desc=_str(item, "desc"), doc_url=_str(item, "doc_url"), provided_by=_str(item, "provided_by"),
        )
        for item in _items(raw, "deprecated features", where)
    ]


def parse_node_names(raw: Any, where: str = "/api/nodes") -> list[str]:
    return [_required_str(item, "name", "node", where) for item in _items(raw, "nodes", where)]


def parse_feature_flags(raw: Any, where: str = "/api/feature-flags") -> list[FeatureFlag]:
    return [
        FeatureFlag(
            name=_required_str(item, "name", "feature flag", where),
            state=_str(item, "state") or "unknown",
            stability=_str(item, "stability"), provided_by=_str(item, "provided_by"),
        )
        for item in _items(raw, "feature flags", where)
    ]


def parse_cluster_id(raw: Any, where: str = "/api/global-parameters") -> str:
    for item in _items(raw, "global parameters", where):
        if item.get("name") == "internal_cluster_id" and isinstance(item.get("value"), str):
            return str(item["value"])
    raise NotFound(f"{where}: no internal_cluster_id global parameter (RabbitMQ older than 3.7?)")


def policy_of(item: dict[str, Any], where: str, *, vhost: str | None = None) -> Policy:
    """One policy object: the API's and the definitions export's share this shape (`apply-to`)."""
    priority = item.get("priority", 0)
    if isinstance(priority, bool) or not isinstance(priority, int | float):
        raise BadReply(f"{where}: policy {item.get('name')!r} has a non-numeric priority")
    definition = item.get("definition")
    if not isinstance(definition, dict):
        raise BadReply(f"{where}: policy {item.get('name')!r} has no definition object")
    return Policy(
        vhost=sys.intern(vhost if vhost is not None else _required_str(item, "vhost", "policy", where)),
        name=_required_str(item, "name", "policy", where),
        pattern=_required_str(item, "pattern", "policy", where),
        apply_to=_str(item, "apply-to") or "all",
        priority=priority,
        definition=definition,
    )


def parse_policies(raw: Any, where: str = "/api/policies") -> list[Policy]:
    return [policy_of(item, where) for item in _items(raw, "policies", where)]


def parse_policy_order(raw: Any, where: str = "/api/definitions/{vhost}") -> PolicyOrder:
    """A vhost's definitions export → the order it lists policies in (`policies`) and operator policies
    in (`parameters` of component `operator_policy`): RabbitMQ's table order (rabbit_mgmt_wm_definitions)."""
    if not isinstance(raw, dict):
        raise BadReply(f"{where}: expected a definitions object, got {type(raw).__name__}")
    policies = [_required_str(item, "name", "policy", where)
                for item in _items(raw.get("policies", []), "policies", where)]
    operator = [_required_str(item, "name", "parameter", where)
                for item in _items(raw.get("parameters", []), "parameters", where)
                if item.get("component") == "operator_policy"]
    return PolicyOrder(policies=policies, operator_policies=operator)


def queue_row(item: dict[str, Any], where: str = "/api/queues") -> QueueRow:
    arguments = _dict(item, "arguments")
    return QueueRow(
        vhost=sys.intern(_required_str(item, "vhost", "queue", where)),
        name=_required_str(item, "name", "queue", where),
        type=_interned(item, "type") or "classic",
        durable=_bool(item, "durable") is not False,
        auto_delete=_bool(item, "auto_delete") is True,
        exclusive=_bool(item, "exclusive") is True,
        node=_interned(item, "node"),
        mirrors=_names(item, "slave_nodes"),
        synchronised=_names(item, "synchronised_slave_nodes"),
        members=_names(item, "members"),
        online=_names(item, "online"),
        policy=_interned(item, "policy"),
        operator_policy=_interned(item, "operator_policy"),
        effective=_dict(item, "effective_policy_definition"),
        arguments=arguments or None,
    )


def parse_queue_page(raw: Any, where: str = "/api/queues") -> tuple[list[QueueRow], int, int | None]:
    """A paged answer → (rows, page_count, total_count). A bare list (no paging) is one page."""
    if isinstance(raw, list):
        return [queue_row(item, where) for item in _items(raw, "queues", where)], 1, len(raw)
    if not isinstance(raw, dict) or not isinstance(raw.get("items"), list):
        raise BadReply(f"{where}: expected a page of queues (an object with `items`)")
    page_count = raw.get("page_count")
    if isinstance(page_count, bool) or not isinstance(page_count, int) or not 0 <= page_count <= 1_000_000:
        raise BadReply(f"{where}: page without a sensible page_count ({page_count!r})")
    total = raw.get("total_count")
    rows = [queue_row(item, where) for item in _items(raw["items"], "queues", where)]
    return rows, max(page_count, 1), total if isinstance(total, int) and not isinstance(total, bool) else None
