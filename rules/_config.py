"""What the config rules share: config documents grouped into the nodes they configure.

A compose service or Kubernetes workload is one node (or `replicas` of them) configured by the files
it mounts, the ConfigMaps beside it and its environment; the nodes of one compose file or manifest
form one cluster. Files linted on their own are grouped by directory when they carry RabbitMQ's
own names (rabbitmq.conf, advanced.config, enabled_plugins, rabbitmq-env.conf, conf.d/): that is
how /etc/rabbitmq holds one node's config. Any other file is a node of its own.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import field
from typing import TYPE_CHECKING

from rabbitmq_preflight.configfiles.schema import all_series, series_of
from rabbitmq_preflight.record import lean

if TYPE_CHECKING:
    from rabbitmq_preflight.configfiles.model import ConfigDocument, EnvSetting, Setting, Workload
    from rabbitmq_preflight.facts import Facts

CANONICAL = frozenset({"rabbitmq.conf", "advanced.config", "rabbitmq.config", "enabled_plugins", "rabbitmq-env.conf"})
OPERATOR_PLUGINS = frozenset({"rabbitmq_peer_discovery_k8s", "rabbitmq_prometheus", "rabbitmq_management"})


@lean
class NodeConfig:
    """The configuration one node (or workload) would boot with, gathered from the files that define it."""

    label: str  # the service / workload name, or the file or directory
    file: str
    line: int
    cluster: str  # nodes with the same cluster key belong to one cluster (a compose file, a manifest)
    workload: Workload | None = None
    settings: list[Setting] = field(default_factory=list)  # rabbitmq.conf (cuttlefish) keys
    advanced: list[Setting] = field(default_factory=list)  # advanced.config `app.key`
    env: list[EnvSetting] = field(default_factory=list)
    plugins: set[str] | None = None  # None: which plugins are enabled is not known
    series: str | None = None
    series_from: str = ""
    unread: list[str] = field(default_factory=list)  # files on the node's host that could not be read (--ssh)

    @property
    def table_series(self) -> str:
        """The key table to judge with: the target series, or the newest when it has none or an older one."""
        return self.series if self.series in all_series() else all_series()[-1]

    @property
    def config_unknown(self) -> str | None:
        """Why this node's config cannot be judged as a whole (it mounts config that was not linted, or a
        file on its host could not be read)."""
        if self.workload is not None and self.workload.unread_configs:
            return f"{self.label} mounts config that was not linted ({', '.join(self.workload.unread_configs)})"
        if self.unread:
            return f"{self.label}'s config could not be read on its host ({'; '.join(self.unread)})"
        return None

    @property
    def replicas(self) -> int:
        return self.workload.replicas or 1 if self.workload else 1

    def setting(self, key: str) -> Setting | None:
        for s in self.settings:
            if s.key == key:
                return s
        return None

    def env_value(self, name: str) -> EnvSetting | None:
        for e in self.env:
            if e.name == name:
                return e
        return None


def image_tag(image: str | None) -> str | None:
    """The tag of `repo/name:tag[@digest]`; None when the image has no tag."""
    if not image:
        return None
    ref = image.split("@", 1)[0]
    _, sep, tag = ref.rpartition(":")
    if not sep or "/" in tag:
        return None
    return tag


def is_official_image(image: str | None) -> bool:
    if not image:
        return False
    ref = image.split("@", 1)[0].rsplit(":", 1)[0] if "/" not in (image.split(":", 1)[-1]) else image
    return ref in {"rabbitmq", "docker.io/rabbitmq", "library/rabbitmq", "docker.io/library/rabbitmq"}


def _target(facts: Facts, image: str | None) -> tuple[str | None, str]:
    config = facts.config
    if config is not None and config.target:
        return config.target, config.target_from or "--rabbitmq"
    tag = image_tag(image)
    if tag:
        series = series_of(tag)
        if series:
            return series, f"image tag {tag}"
    if config is not None and config.live:
        return config.live, config.live_from or "the live cluster"
    return None, "no target version (give --rabbitmq X.Y)"


def _image_plugins(image: str | None) -> set[str] | None:
    if not is_official_image(image):
        return None
    tag = image_tag(image) or "latest"
    return {"rabbitmq_prometheus"} | ({"rabbitmq_management"} if "management" in tag else set())


def documents(facts: Facts) -> list[ConfigDocument]:
    return facts.config.documents if facts.config is not None else []


def _add_document(node: NodeConfig, doc: ConfigDocument) -> None:
    if doc.kind == "advanced.config":
        node.advanced += doc.settings
    else:
        node.settings += doc.settings
    node.env += doc.env
    if doc.plugins is not None:
        node.plugins = (node.plugins or set()) | set(doc.plugins)


def node_configs(facts: Facts) -> list[NodeConfig]:
    docs = documents(facts)
    by_file = {d.file: d for d in docs}
    mounted = {path for d in docs for w in d.workloads for path in w.mounted_configs}
    nodes: list[NodeConfig] = []
    for doc in docs:
        for w in doc.workloads:
            series, source = _target(facts, w.image)
            node = NodeConfig(label=w.name, file=w.file, line=w.line, cluster=doc.file, workload=w,
                              settings=list(w.settings), env=list(w.env), series=series, series_from=source)
            if w.kind == "RabbitmqCluster":
                node.plugins = set(OPERATOR_PLUGINS)
            elif doc.kind == "kubernetes":
                node.settings += [s for s in doc.settings if s not in w.settings]
                if doc.plugins is not None:
                    node.plugins = set(doc.plugins)
            for path in w.mounted_configs:
                if path in by_file:
                    _add_document(node, by_file[path])
            if node.plugins is None and doc.kind == "compose" and not w.unread_configs and \
                    not any(by_file[p].kind == "enabled_plugins" for p in w.mounted_configs if p in by_file):
                node.plugins = _image_plugins(w.image)
            nodes.append(node)
    groups: dict[str, NodeConfig] = {}
    series, source = _target(facts, None)
    nodes += _host_nodes(facts, docs, series, source)
    for doc in docs:
        if doc.host is not None or doc.workloads or doc.file in mounted or \
                doc.kind in {"definitions", "compose", "kubernetes"}:
            continue
        path = doc.file
        base = os.path.basename(path)
        parent = os.path.dirname(path)
        if os.path.basename(parent) == "conf.d":
            parent = os.path.dirname(parent)
        key = parent if base in CANONICAL or os.path.basename(os.path.dirname(path)) == "conf.d" else path
        if key not in groups:
            groups[key] = NodeConfig(label=key, file=path, line=1, cluster=key, series=series, series_from=source)
        _add_document(groups[key], doc)
    nodes += groups.values()
    return nodes


def _host_nodes(facts: Facts, docs: list[ConfigDocument], series: str | None, source: str) -> list[NodeConfig]:
    """One node per host whose config was read over SSH (its files, whatever their directories), all of
    them one cluster: the inventory's. A host with no config file at all is a node with no settings."""
    hosts = facts.config.hosts if facts.config is not None else {}
    nodes: dict[str, NodeConfig] = {}
    for host in hosts:
        nodes[host] = NodeConfig(label=host, file=f"{host}:", line=1, cluster=facts.inventory.cluster,
                                 series=series, series_from=source, unread=list(hosts[host]))
    named: set[str] = set()  # nodes whose `file` is their first rabbitmq.conf (the main one, before conf.d)
    for doc in docs:
        node = nodes.get(doc.host) if doc.host is not None else None
        if node is None:
            continue
        if node.label not in named and (node.file.endswith(":") or doc.kind == "rabbitmq.conf"):
            node.file = doc.file
            if doc.kind == "rabbitmq.conf":
                named.add(node.label)
        _add_document(node, doc)
    return list(nodes.values())


def clusters(facts: Facts) -> Iterator[list[NodeConfig]]:
    by_cluster: dict[str, list[NodeConfig]] = {}
    for node in node_configs(facts):
        by_cluster.setdefault(node.cluster, []).append(node)
    yield from by_cluster.values()


def clustered(nodes: list[NodeConfig]) -> bool:
    """Several nodes, or one node configured to find peers."""
    if sum(n.replicas for n in nodes) > 1:
        return True
    return any(s.key.startswith("cluster_formation.") for n in nodes for s in n.settings)


def known_series() -> tuple[str, ...]:
    return all_series()


def unique_settings(facts: Facts) -> Iterator[tuple[Setting, NodeConfig]]:
    """Every rabbitmq.conf setting once (a file mounted by three services is judged once)."""
    seen: set[tuple[str, int, str]] = set()
    for node in node_configs(facts):
        for s in node.settings:
            key = (s.file, s.line, s.key)
            if key not in seen:
                seen.add(key)
                yield s, node
