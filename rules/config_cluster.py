"""Family `config`: will the nodes described by the files form one cluster and keep it — peer
discovery, partition handling, values that must agree across nodes, image tags and versions,
environment variables the image ignores, volume specs Docker refuses.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from rabbitmq_preflight.configfiles.schema import BACKEND_PLUGINS, plugin_closure, series_of
from rabbitmq_preflight.rule import Fail, Pass, Result, Skip, rule
from rabbitmq_preflight.rules._config import (
    NodeConfig,
    clustered,
    clusters,
    documents,
    image_tag,
    is_official_image,
    node_configs,
)

if TYPE_CHECKING:
    from rabbitmq_preflight.facts import Facts

BACKEND_KEY = "cluster_formation.peer_discovery_backend"
CLASSIC_NODE = re.compile(r"cluster_formation\.classic_config\.nodes\.[^.]+")
JOIN_WORDS = ("join_cluster", "CLUSTER_WITH", "JOIN_CLUSTER", "CLUSTERED", "RABBITMQ_CLUSTER_NODE_NAME",
              "cluster_nodes", "cluster-entrypoint", "cluster_entrypoint", "join-cluster", "join_cluster.sh")
EOL_BEFORE = (3, 13)  # our cut-off, not a cited date: 3.12 and older get no more releases (v3.12.14 is 3.12's last tag)


def _backend(value: str) -> str | None:
    """`rabbit_peer_discovery_k8s`, `k8s` and `kubernetes` all name one backend."""
    v = value.strip().strip('"')
    for prefix in ("rabbit_peer_discovery_", "rabbitmq_peer_discovery_"):
        if v.startswith(prefix):
            v = v[len(prefix):]
    v = {"kubernetes": "k8s", "classic": "classic_config"}.get(v, v)
    return v if v in BACKEND_PLUGINS else None


@rule(
    id="CONF030", slug="config-peer-discovery-backend", family="config", severity="error",
    title="The peer discovery backend is unknown or its plugin is not enabled",
    rationale="""
        cluster_formation.peer_discovery_backend names a module (rabbit_peer_discovery_classic_config,
        _dns, _aws, _k8s, _consul, _etcd, or the short names classic_config, dns, aws, k8s, consul,
        etcd). A name RabbitMQ does not know, or a backend whose plugin is not enabled, stops peer
        discovery: the node boots alone or not at all.
    """,
    remediation="name a known backend and enable its plugin (e.g. rabbitmq_peer_discovery_k8s)",
)
def config_peer_discovery_backend(facts: Facts) -> Iterator[Result]:
    found = False
    for node in node_configs(facts):
        s = node.setting(BACKEND_KEY)
        if s is None or s.templated:
            continue
        found = True
        backend = _backend(s.value)
        if backend is None:
            yield Fail(node.label, f"{s.file}:{s.line}: peer discovery backend `{s.value}` is not one RabbitMQ has",
                       subject=f"{s.file}:{BACKEND_KEY}", file=s.file, line=s.line,
                       remediation=f"line {s.line}: `{BACKEND_KEY} = classic_config` (or dns, aws, k8s, consul, etcd)")
            continue
        plugin = BACKEND_PLUGINS[backend]
        series = node.table_series
        if plugin and node.plugins is not None and plugin not in plugin_closure(node.plugins, series):
            yield Fail(node.label, f"{s.file}:{s.line}: backend {backend} needs {plugin}, which is not enabled",
                       subject=f"{s.file}:{BACKEND_KEY}", file=s.file, line=s.line,
                       remediation=f"add {plugin} to enabled_plugins")
        else:
            yield Pass(node.label, subject=f"{s.file}:{BACKEND_KEY}")
    if not found:
        yield Skip(None, "no peer discovery backend configured")


def _classic_nodes(node: NodeConfig) -> list[tuple[str, str, int]]:
    return [(s.value, s.file, s.line) for s in node.settings if CLASSIC_NODE.fullmatch(s.key) and not s.templated]


@rule(
    id="CONF031", slug="config-classic-config-nodes", family="config", severity="error",
    title="classic_config node lists are malformed or disagree between nodes",
    rationale="""
        classic_config lists the nodes to contact at first boot. A name without `prefix@host` is never
        reached; nodes whose lists differ may each find a different seed and form separate clusters; a
        name the inventory (--inventory) does not list is a node nobody checks, or a typo.
    """,
    remediation="list the same `rabbit@host` names, one per line, in every node's rabbitmq.conf",
)
def config_classic_config_nodes(facts: Facts) -> Iterator[Result]:
    found = False
    inventory = set(facts.node_names)
    for nodes in clusters(facts):
        lists: dict[str, set[str]] = {}
        for node in nodes:
            entries = _classic_nodes(node)
            if not entries:
                continue
            found = True
            lists[node.label] = {v for v, _, _ in entries}
            for value, file, line in entries:
                if "@" not in value or value.startswith("@") or value.endswith("@"):
                    yield Fail(node.label, f"{file}:{line}: classic_config node `{value}` is not `prefix@host`",
                               subject=f"{file}:{line}", file=file, line=line,
                               remediation=f"line {line}: `...= rabbit@{value.split('@')[-1] or 'HOST'}`")
                elif inventory and value not in inventory:
                    yield Fail(node.label, f"{file}:{line}: classic_config node `{value}` is not in the inventory "
                               f"({', '.join(sorted(inventory))})", subject=f"{file}:{line}", file=file, line=line,
                               remediation="list the inventory's node names, or add the node to the inventory")
        if len({frozenset(v) for v in lists.values()}) > 1:
            first = next(n for n in nodes if n.label in lists)
            yield Fail(None, f"{first.file}: classic_config lists differ between "
                       + "; ".join(f"{k}: {sorted(v)}" for k, v in sorted(lists.items())),
                       subject=f"{first.cluster}:classic_config", file=first.file, line=first.line)
    if not found:
        yield Skip(None, "no classic_config node list")


@rule(
    id="CONF032", slug="config-boots-standalone", family="config", severity="warning",
    title="Nodes meant to be clustered will each boot as a cluster of their own",
    rationale="""
        With no peer discovery configured (cluster_formation.*) and nothing in the service that runs
        `rabbitmqctl join_cluster`, every node of the file boots as its own one-node cluster. A
        classic_config list that does not name the node itself or any of its peers does the same.
    """,
    remediation="configure peer discovery in rabbitmq.conf (classic_config with every node, or dns/k8s)",
)
def config_boots_standalone(facts: Facts) -> Iterator[Result]:
    found = False
    for nodes in clusters(facts):
        workloads = [n for n in nodes if n.workload is not None]
        if sum(n.replicas for n in workloads) < 2:
            continue
        found = True
        for node in workloads:
            w = node.workload
            assert w is not None
            if node.config_unknown or w.kind == "RabbitmqCluster":  # the operator configures k8s discovery
                yield Skip(node.label, node.config_unknown or "the cluster operator configures peer discovery",
                           subject=f"{w.file}:{w.name}:discovery")
                continue
            discovery = any(s.key.startswith("cluster_formation.") for s in node.settings) or \
                any(s.key in {"rabbit.cluster_nodes", "rabbit.cluster_formation"} for s in node.advanced)
            text = " ".join([w.command or "", *(f"{e.name}={e.value}" for e in node.env), *w.mounted_configs,
                             *(v.spec for v in w.volumes), w.image or ""])
            joins = any(word.lower() in text.lower() for word in JOIN_WORDS)
            custom_image = not is_official_image(w.image) and not w.mounted_configs and w.kind == "compose"
            if discovery or joins or custom_image:
                yield Pass(node.label, subject=f"{w.file}:{w.name}:discovery")
                continue
            yield Fail(node.label, f"{w.file}:{w.line}: {w.name} is one of {sum(n.replicas for n in workloads)} nodes "
                       "but configures no peer discovery and runs no join_cluster: it boots standalone",
                       subject=f"{w.file}:{w.name}:discovery", file=w.file, line=w.line)
    if not found:
        yield Skip(None, "no file describes more than one node")


@rule(
    id="CONF040", slug="config-partition-handling", family="config", severity="warning",
    title="A clustered config leaves cluster_partition_handling at `ignore`",
    rationale="""
        On 3.x the default `ignore` lets both sides of a network partition accept writes; the cluster
        then needs a manual restart and loses what the losing side took. pause_minority (3+ nodes) or
        autoheal choose a side automatically.
    """,
    remediation="add `cluster_partition_handling = pause_minority` (3 or more nodes) or `autoheal`",
)
def config_partition_handling(facts: Facts) -> Iterator[Result]:
    found = False
    for nodes in clusters(facts):
        if not clustered(nodes):
            continue
        for node in nodes:
            if node.config_unknown:
                yield Skip(node.label, node.config_unknown, subject=f"{node.file}:{node.label}:partition")
                continue
            if not node.settings and not node.advanced and node.workload is None:
                continue
            series = node.series
            if series is not None and series_of(series) and int(series.split(".")[0]) >= 4:
                continue
            found = True
            s = node.setting("cluster_partition_handling")
            adv = next((a for a in node.advanced if a.key == "rabbit.cluster_partition_handling"), None)
            value = s.value if s else adv.value if adv else None
            if value is not None and value != "ignore":
                yield Pass(node.label, subject=f"{node.file}:{node.label}:partition")
                continue
            where = s or adv
            file, line = (where.file, where.line) if where else (node.file, node.line)
            who = "" if str(file).startswith(f"{node.label}:") else f"{node.label}: "  # a host's file names it
            yield Fail(node.label, f"{file}:{line}: {who}cluster_partition_handling is "
                       f"{'`ignore`' if value else 'not set (ignore)'} on a clustered node",
                       subject=f"{node.file}:{node.label}:partition", file=file, line=line)
    if not found:
        yield Skip(None, "no clustered 3.x config")


MUST_AGREE = ("net_ticktime", "cluster_partition_handling")


@rule(
    id="CONF041", slug="config-mixed-cluster-values", family="config", severity="error",
    title="Nodes of one cluster disagree on a value that must be equal",
    rationale="""
        Every node of a cluster must share the Erlang cookie, net_ticktime, the partition handling mode
        and the deprecated features it permits: nodes with different cookies cannot connect, different
        tick times make nodes declare each other down, and different partition or deprecation settings
        behave differently in the same failure.
    """,
    remediation="set the value once for every node (a shared config file or secret)",
)
def config_mixed_cluster_values(facts: Facts) -> Iterator[Result]:
    for nodes in clusters(facts):
        if len(nodes) < 2:
            continue
        values: dict[str, dict[str, tuple[str, str, int]]] = {}
        for node in nodes:
            for s in node.settings:
                if s.key in MUST_AGREE or s.key.startswith("deprecated_features.permit."):
                    values.setdefault(s.key, {})[node.label] = (s.value, s.file, s.line)
            for e in node.env:
                if e.cookie is not None:
                    values.setdefault("Erlang cookie", {})[node.label] = (e.cookie.fingerprint, e.file, e.line)
        for key, per_node in values.items():
            distinct = {v for v, _, _ in per_node.values()}
            if len(distinct) > 1 or (0 < len(per_node) < len(nodes) and key != "Erlang cookie"):
                _, file, line = next(iter(per_node.values()))
                shown = "different values" if key == "Erlang cookie" else \
                    "; ".join(f"{k}={v}" for k, (v, _, _) in sorted(per_node.items()))
                missing = sorted({n.label for n in nodes} - set(per_node))
                yield Fail(None, f"{file}:{line}: {key} differs across the cluster's nodes: {shown}"
                           + (f" (unset on {', '.join(missing)})" if missing else ""),
                           subject=f"{nodes[0].cluster}:{key}", file=file, line=line,
                           evidence={"key": key, "nodes": sorted(per_node)})


FLOATING = re.compile(r"(?:\d+)?(?:-?(?:management|alpine|management-alpine))?|latest|")


@rule(
    id="CONF042", slug="config-floating-image-tag", family="config", severity="warning",
    title="A RabbitMQ image tag floats",
    rationale="""
        `rabbitmq`, `rabbitmq:latest`, `rabbitmq:3-management` move to a new minor (or major) release
        whenever one is published: a re-created container may upgrade one node of the cluster by
        several minors at once, past the feature flags the others have, and refuse to join.
    """,
    remediation="pin the image to a minor series and patch release, e.g. `rabbitmq:4.1.4-management`",
)
def config_floating_image_tag(facts: Facts) -> Iterator[Result]:
    found = False
    for node in node_configs(facts):
        w = node.workload
        if w is None or not w.image or "$" in w.image or "{{" in w.image:
            continue
        found = True
        tag = image_tag(w.image)
        if "@sha256:" in w.image or (tag is not None and not FLOATING.fullmatch(tag)):
            yield Pass(node.label, subject=f"{w.file}:{w.name}:image")
            continue
        yield Fail(node.label, f"{w.file}:{w.image_line or w.line}: {w.name} runs `{w.image}`, a tag that moves "
                   "across releases", subject=f"{w.file}:{w.name}:image", file=w.file, line=w.image_line or w.line)
    if not found:
        yield Skip(None, NO_IMAGE)


NO_IMAGE = "no RabbitMQ image named"


@rule(
    id="CONF043", slug="config-eol-version", family="config", severity="warning",
    title="The image runs a RabbitMQ series that is end of life",
    rationale="""
        Series before 3.13 get no releases at all, not even security fixes, and cannot be upgraded to
        4.x in one step (3.13 first, with all feature flags enabled).
    """,
    remediation="move to a supported series (upgrade through 3.13 with every feature flag enabled)",
)
def config_eol_version(facts: Facts) -> Iterator[Result]:
    found = False
    for node in node_configs(facts):
        w = node.workload
        series = series_of(image_tag(w.image)) if w is not None and w.image else None
        if w is None or series is None:
            continue
        found = True
        major, minor = (int(p) for p in series.split("."))
        if (major, minor) >= EOL_BEFORE:
            yield Pass(node.label, subject=f"{w.file}:{w.name}:eol")
            continue
        yield Fail(node.label, f"{w.file}:{w.image_line or w.line}: {w.name} runs RabbitMQ {series} "
                   f"(`{w.image}`), end of life", subject=f"{w.file}:{w.name}:eol", file=w.file,
                   line=w.image_line or w.line, evidence={"series": series})
    if not found:
        yield Skip(None, "no image with a version tag")


# Variables people set on the official image that it does not read, and who does.
NOT_READ = {
    "RABBITMQ_NODE_TYPE": "bitnami/rabbitmq", "RABBITMQ_CLUSTER_NODE_NAME": "bitnami/rabbitmq",
    "RABBITMQ_USERNAME": "bitnami/rabbitmq", "RABBITMQ_PASSWORD": "bitnami/rabbitmq",
    "RABBITMQ_ERL_COOKIE": "bitnami/rabbitmq", "RABBITMQ_LOAD_DEFINITIONS": "bitnami/rabbitmq",
    "RABBITMQ_PLUGINS": "bitnami/rabbitmq", "RABBITMQ_CLUSTER_PARTITION_HANDLING": "bitnami/rabbitmq",
    "RABBITMQ_DISK_FREE_ABSOLUTE_LIMIT": "bitnami/rabbitmq",
    "RABBITMQ_MANAGEMENT_ALLOW_WEB_ACCESS": "bitnami/rabbitmq",
    "CLUSTERED": "harbur/rabbitmq-cluster and similar", "CLUSTER_WITH": "harbur/rabbitmq-cluster and similar",
    "RAM_NODE": "harbur/rabbitmq-cluster and similar",
    "RABBITMQ_DEFAULT_PASS_FILE": "rabbitmq images before 3.9",
    "RABBITMQ_DEFAULT_USER_FILE": "rabbitmq images before 3.9",
    "RABBITMQ_VM_MEMORY_HIGH_WATERMARK": "rabbitmq images before 3.9",
    "RABBITMQ_SSL_CACERTFILE": "rabbitmq images before 3.9", "RABBITMQ_SSL_CERTFILE": "rabbitmq images before 3.9",
    "RABBITMQ_SSL_KEYFILE": "rabbitmq images before 3.9", "RABBITMQ_HIPE_COMPILE": "rabbitmq images before 3.9",
    "RABBITMQ_MANAGEMENT_SSL_CACERTFILE": "rabbitmq images before 3.9",
}


@rule(
    id="CONF050", slug="config-env-not-read", family="config", severity="warning",
    title="An environment variable the official rabbitmq image does not read",
    rationale="""
        The official image reads RabbitMQ's own variables (RABBITMQ_NODENAME, RABBITMQ_DEFAULT_USER/PASS,
        RABBITMQ_USE_LONGNAME...). Variables of other images (bitnami's RABBITMQ_NODE_TYPE, cluster
        helper images' CLUSTER_WITH) or of images before 3.9 (RABBITMQ_VM_MEMORY_HIGH_WATERMARK,
        RABBITMQ_SSL_*) are silently ignored: the setting the author expected never happens.
    """,
    remediation="move the setting to rabbitmq.conf (or use the image that reads the variable)",
)
def config_env_not_read(facts: Facts) -> Iterator[Result]:
    found = False
    for node in node_configs(facts):
        w = node.workload
        if w is None or not is_official_image(w.image):
            continue
        found = True
        for e in node.env:
            reader = NOT_READ.get(e.name)
            if reader:
                yield Fail(node.label, f"{e.file}:{e.line}: {w.name} sets {e.name}, which `{w.image}` ignores "
                           f"(read by {reader})", subject=f"{e.file}:{w.name}:{e.name}", file=e.file, line=e.line)
    if not found:
        yield Skip(None, "no service runs the official rabbitmq image")


@rule(
    id="CONF051", slug="config-volume-spec", family="config", severity="error",
    title="A volume spec Docker will not mount as written",
    rationale="""
        Short-syntax volumes are `source:target[:mode]`: a target that is not an absolute path, an
        unknown mode, too many colons or a bare name that is not declared under the top-level
        `volumes:` make compose refuse the file (or mount something else than intended).
    """,
    remediation="write `./host/path:/container/path[:ro]`, or declare the named volume under `volumes:`",
)
def config_volume_spec(facts: Facts) -> Iterator[Result]:
    found = False
    for doc in documents(facts):
        for w in doc.workloads:
            for v in w.volumes:
                found = True
                if v.problem is None:
                    continue
                yield Fail(w.name, f"{v.file}:{v.line}: {w.name} volume `{v.spec}`: {v.problem}",
                           subject=f"{v.file}:{v.line}", file=v.file, line=v.line)
    if not found:
        yield Skip(None, "no volumes")
