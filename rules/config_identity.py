"""Family `config`: node identity in compose files and manifests — a node's name is `rabbit@<host>`
and its data directory is named after it, so a host name that changes renames the node and orphans
its data; several nodes on one data directory corrupt it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from rabbitmq_preflight.rule import Fail, Pass, Result, Skip, rule
from rabbitmq_preflight.rules._config import clusters, node_configs

if TYPE_CHECKING:
    from rabbitmq_preflight.facts import Facts

NO_WORKLOADS = "no compose service or Kubernetes workload running a RabbitMQ image"
SHELL_SUBST = re.compile(r"\$\(([^)]*)\)")


def _nodename(env_value: str | None) -> str | None:
    return env_value if env_value and "@" in env_value else None


@rule(
    id="CONF020", slug="config-hostname-not-pinned", family="config", severity="error",
    title="A node's name depends on a host name the deployment does not pin",
    rationale="""
        Without `hostname:` a container's host name is its random id, so the node is
        `rabbit@3f2a9c…`, a new name on every re-creation: the data directory named after the old node
        is ignored (queues and users gone) and peers remember a member that never returns. On
        Kubernetes only a StatefulSet with a governing `serviceName` gives pods stable names; a
        Deployment's pods get new random names on every restart.
    """,
    remediation="compose: add `hostname: <service>`; Kubernetes: a StatefulSet with `serviceName` (or the operator)",
)
def config_hostname_not_pinned(facts: Facts) -> Iterator[Result]:
    found = False
    for node in node_configs(facts):
        w = node.workload
        if w is not None and w.kind in {"Deployment", "StatefulSet"}:
            found = True
            if w.stable_identity:
                yield Pass(node.label, subject=f"{w.file}:{w.name}")
            else:
                why = "a Deployment's pods" if w.kind == "Deployment" else "a StatefulSet without serviceName:"
                yield Fail(node.label, f"{w.file}:{w.line}: {w.kind} {w.name}: {why} get no stable network "
                           "identity, so the node name changes with the pod", subject=f"{w.file}:{w.name}",
                           file=w.file, line=w.line,
                           remediation=f"run {w.name} as a StatefulSet with `serviceName:` (a headless Service) and "
                                       "RABBITMQ_NODENAME=rabbit@$(MY_POD_NAME).<service>, or use the cluster operator")
            continue
        if w is None or w.kind != "compose":
            continue
        found = True
        named = node.env_value("RABBITMQ_NODENAME")
        if w.hostname or (named is not None and _nodename(named.value)):
            yield Pass(node.label, subject=f"{w.file}:{w.name}")
            continue
        yield Fail(node.label, f"{w.file}:{w.line}: service {w.name} has no `hostname:`: its node name changes "
                   "with every new container", subject=f"{w.file}:{w.name}", file=w.file, line=w.line,
                   remediation=f"under service {w.name} (line {w.line}) add `hostname: {w.name}`")
    if not found:
        yield Skip(None, NO_WORKLOADS)


@rule(
    id="CONF021", slug="config-unexpanded-substitution", family="config", severity="error",
    title="An environment value holds `$(...)` that nothing expands",
    rationale="""
        Kubernetes expands `$(VAR)` only for variables defined earlier in the same container's env;
        `$(hostname -f)` is not a variable, so RABBITMQ_NODENAME is literally `rabbit@$(hostname -f)`.
        Compose interpolates `${VAR}` only, never `$(...)`. The node then boots under a name no peer
        can reach.
    """,
    remediation="use the Downward API (`valueFrom.fieldRef: metadata.name`) into a variable, then `$(MY_POD_NAME)`",
)
def config_unexpanded_substitution(facts: Facts) -> Iterator[Result]:
    found = False
    for node in node_configs(facts):
        if node.workload is None:
            continue
        found = True
        defined: set[str] = set()
        for e in node.env:
            for ref in SHELL_SUBST.findall(e.value):
                k8s_var = node.workload.kind != "compose" and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", ref)
                if k8s_var and ref in defined:
                    continue
                why = (f"$({ref}) names no variable defined before it" if k8s_var else
                       f"$({ref}) is shell, which {'Kubernetes' if node.workload.kind != 'compose' else 'compose'} "
                       "does not run")
                yield Fail(node.label, f"{e.file}:{e.line}: {e.name} = {e.value!r}: {why}; the value is used "
                           "literally", subject=f"{e.file}:{node.label}:{e.name}", file=e.file, line=e.line)
            defined.add(e.name)
    if not found:
        yield Skip(None, NO_WORKLOADS)


def _longname(node_env: dict[str, str]) -> bool | None:
    flag = node_env.get("RABBITMQ_USE_LONGNAME")
    if flag is not None:
        return flag.lower() == "true"
    name = node_env.get("RABBITMQ_NODENAME")
    if name and "@" in name and "$" not in name:
        return "." in name.split("@", 1)[1]
    return None


@rule(
    id="CONF022", slug="config-name-style-mix", family="config", severity="error",
    title="Nodes of one cluster mix long and short node names",
    rationale="""
        A node started with long names (RABBITMQ_USE_LONGNAME=true, rabbit@host.domain) cannot talk to
        one started with short names: the distribution refuses the connection, and the cluster never
        forms.
    """,
    remediation="use the same naming on every node: RABBITMQ_USE_LONGNAME=true everywhere, or nowhere",
)
def config_name_style_mix(facts: Facts) -> Iterator[Result]:
    for nodes in clusters(facts):
        styles = {n.label: _longname({e.name: e.value for e in n.env}) for n in nodes if n.workload is not None}
        known = {k: v for k, v in styles.items() if v is not None}
        if len(nodes) < 2 or not known:
            continue
        # An unset style is short names, the default, once any node states one.
        resolved = {k: bool(v) for k, v in styles.items()}
        if len(set(resolved.values())) > 1:
            longs = sorted(k for k, v in resolved.items() if v)
            shorts = sorted(k for k, v in resolved.items() if not v)
            first = nodes[0]
            yield Fail(None, f"{first.file}: long names on {', '.join(longs)}, short names on {', '.join(shorts)}",
                       subject=f"{first.cluster}:name-style", file=first.file, line=first.line)
        else:
            yield Pass(None, subject=f"{nodes[0].cluster}:name-style")


@rule(
    id="CONF023", slug="config-shared-data-dir", family="config", severity="critical",
    title="Several nodes use one data directory",
    rationale="""
        Each node owns its data directory (/var/lib/rabbitmq/mnesia/<node>): two nodes on the same host
        directory or named volume overwrite each other's message store and schema, and a replica set
        with one volume shares it between every pod.
    """,
    remediation="give every service its own volume for /var/lib/rabbitmq",
)
def config_shared_data_dir(facts: Facts) -> Iterator[Result]:
    for nodes in clusters(facts):
        by_source: dict[str, list[tuple[str, str, int]]] = {}
        for n in nodes:
            w = n.workload
            if w is None or w.kind != "compose":
                continue
            for v in w.volumes:
                if v.source and v.target.rstrip("/") in {"/var/lib/rabbitmq", "/var/lib/rabbitmq/mnesia"}:
                    by_source.setdefault(v.source, []).append((n.label, v.file, v.line))
            if (w.replicas or 1) > 1 and any(v.target.rstrip("/") == "/var/lib/rabbitmq" and v.kind == "bind"
                                             for v in w.volumes):
                by_source.setdefault(f"{w.name} replicas", []).extend([(w.name, w.file, w.line)] * 2)
        for source, users in by_source.items():
            if len(users) > 1:
                _, file, line = users[1]
                yield Fail(None, f"{file}:{line}: {', '.join(sorted({u[0] for u in users}))} all mount {source!r} "
                           "as their data directory", subject=f"{file}:{source}", file=file, line=line,
                           evidence={"source": source, "services": sorted({u[0] for u in users})})


@rule(
    id="CONF024", slug="config-no-persistent-volume", family="config", severity="warning",
    title="A node keeps its data in the container",
    rationale="""
        Without a volume on /var/lib/rabbitmq the node's data (queues, messages, users, cluster
        membership) lives in the container's writable layer and is lost when the container is
        re-created; a clustered node that comes back empty must be reset and re-joined.
    """,
    remediation="mount a named volume (compose) or a volumeClaimTemplate (Kubernetes) at /var/lib/rabbitmq",
)
def config_no_persistent_volume(facts: Facts) -> Iterator[Result]:
    found = False
    for node in node_configs(facts):
        w = node.workload
        if w is None or w.persistent is None:
            continue
        found = True
        if w.persistent:
            yield Pass(node.label, subject=f"{w.file}:{w.name}")
        else:
            yield Fail(node.label, f"{w.file}:{w.line}: {w.kind} {w.name} has no persistent volume on "
                       "/var/lib/rabbitmq", subject=f"{w.file}:{w.name}", file=w.file, line=w.line,
                       remediation=f"{w.name}: mount a volume at /var/lib/rabbitmq "
                                   f"(compose: `- {w.name}-data:/var/lib/rabbitmq` and declare it under `volumes:`)")
    if not found:
        yield Skip(None, NO_WORKLOADS)

