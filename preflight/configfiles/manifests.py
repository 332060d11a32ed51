"""docker-compose files and Kubernetes manifests (StatefulSet, Deployment, Pod, ConfigMap, Secret,
the cluster operator's RabbitmqCluster; `List` objects and multi-document Helm output) as workloads.

Only services whose image is a RabbitMQ image become workloads. Config files they mount are
reported (`mounted`) so the loader can lint them too; a ConfigMap's `rabbitmq.conf`,
`enabled_plugins` and a RabbitmqCluster's `additionalConfig` are parsed in place, with their lines
in the manifest.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any

from rabbitmq_preflight.configfiles import erlang, rabbitmq_conf
from rabbitmq_preflight.configfiles.model import (
    EnvSetting,
    MountKind,
    ParseProblem,
    Setting,
    VolumeMount,
    Workload,
    WorkloadKind,
)
from rabbitmq_preflight.configfiles.secrets import COOKIE_KEYS, cookie_traits, env_setting
from rabbitmq_preflight.configfiles.yaml_lines import LineList, LineMap, line_of

DATA_DIRS = ("/var/lib/rabbitmq", "/var/lib/rabbitmq/", "/var/lib/rabbitmq/mnesia", "/var/lib/rabbitmq/mnesia/")
VOLUME_MODES = frozenset({"ro", "rw", "z", "Z", "cached", "delegated", "consistent", "nocopy",
                          "shared", "rshared", "slave", "rslave", "private", "rprivate"})


@dataclass
class ManifestResult:
    workloads: list[Workload] = field(default_factory=list)
    settings: list[Setting] = field(default_factory=list)
    secrets: list[EnvSetting] = field(default_factory=list)
    plugins: list[str] | None = None
    plugins_line: int | None = None
    problems: list[ParseProblem] = field(default_factory=list)
    mounted: list[tuple[str, str]] = field(default_factory=list)  # (host path, container path)
    is_compose: bool = False


RABBITMQ_PORTS = ("5672", "15672", "25672", "4369", "5671", "15692")


def is_known_rabbitmq_image(image: str | None) -> bool:
    """RabbitMQ's own image (`rabbitmq`, `library/rabbitmq`, a registry mirror of it) or bitnami's."""
    if not image:
        return False
    name = image.split("@", 1)[0]
    if ":" in name.rsplit("/", 1)[-1]:
        name = name.rsplit(":", 1)[0]
    return name.rsplit("/", 1)[-1] == "rabbitmq"


def runs_rabbitmq(image: str | None, name: str, service: LineMap) -> bool:
    """A RabbitMQ image, or an image named after RabbitMQ that shows it runs a broker (RABBITMQ_*
    variables, a RabbitMQ port, a volume on RabbitMQ's directories): not a helper image of the same
    project (a DNS server called `…/rabbitmq_cluster_bind9`)."""
    if is_known_rabbitmq_image(image):
        return True
    if "rabbit" not in (image or name).lower():
        return False
    env = service.get("environment") or service.get("env")
    env_text = repr(list(env) if isinstance(env, dict) else env)
    if "'RABBITMQ_" in env_text or "name': 'RABBITMQ_" in env_text or "\"RABBITMQ_" in env_text:
        return True
    ports = [str(p) for key in ("ports", "expose") for p in (service.get(key) or []) if not isinstance(p, dict)]
    ports += [str(p.get("containerPort", p.get("target", ""))) for key in ("ports", "expose")
              for p in (service.get(key) or []) if isinstance(p, dict)]
    if any(p.split("/")[0].rsplit(":", 1)[-1] in RABBITMQ_PORTS for p in ports):
        return True
    mounts = repr(service.get("volumes") or service.get("volumeMounts"))
    return "/var/lib/rabbitmq" in mounts or "/etc/rabbitmq" in mounts


def _s(value: Any) -> str | None:
    return None if value is None else str(value)


# --- docker-compose


def compose_services(doc: Any) -> tuple[LineMap, LineMap] | None:
    """(services, top-level volumes) of a compose file (v2/v3 with `services:`, or v1 at top level)."""
    if not isinstance(doc, LineMap):
        return None
    services = doc.get("services")
    if isinstance(services, LineMap):
        volumes = doc.get("volumes")
        return services, volumes if isinstance(volumes, LineMap) else LineMap()
    if doc and all(isinstance(v, LineMap) for v in doc.values()) and \
            any(("image" in v or "build" in v) for v in doc.values()):
        return doc, LineMap()
    return None


def _compose_env(svc: LineMap, file: str) -> list[EnvSetting]:
    env = svc.get("environment")
    out = []
    if isinstance(env, LineMap):
        for name, value in env.items():
            out.append(env_setting(name, "" if value is None else str(value), file, env.lines[name]))
    elif isinstance(env, LineList):
        for item, line in zip(env, env.lines, strict=True):
            name, _, value = str(item).partition("=")
            out.append(env_setting(name.strip(), value, file, line))
    return out


def _short_volume(spec: str, declared: LineMap, file: str, line: int) -> VolumeMount:
    parts = spec.split(":")
    if len(parts) >= 2 and len(parts[0]) == 1 and parts[0].isalpha() and parts[1].startswith(("\\", "/")):
        parts = [parts[0] + ":" + parts[1], *parts[2:]]  # C:\data:/var/lib/rabbitmq
    if len(parts) == 1:
        return VolumeMount(spec=spec, source=None, target=parts[0], kind="anonymous", file=file, line=line,
                           problem=None if parts[0].startswith("/") else
                           f"{parts[0]!r} is not an absolute container path")
    source, target = parts[0], parts[1]
    problem = None
    if len(parts) > 3:
        problem = f"{spec!r} has {len(parts)} colon-separated parts (source:target[:mode])"
    elif len(parts) == 3 and not set(parts[2].split(",")) <= VOLUME_MODES:
        problem = f"mode {parts[2]!r} is not one Docker knows (ro, rw, z, Z, ...)"
    elif not target.startswith("/"):
        problem = f"target {target!r} is not an absolute container path"
    bind = source.startswith(("/", ".", "~", "$")) or (len(source) > 1 and source[1] == ":")
    if not bind and problem is None and source not in declared:
        problem = (f"{source!r} is neither a path (start it with ./ or /) nor a volume declared under the "
                   f"top-level `volumes:`; compose refuses the file")
    return VolumeMount(spec=spec, source=source, target=target, kind="bind" if bind else "volume",
                       file=file, line=line, problem=problem)


def _compose_volumes(svc: LineMap, declared: LineMap, file: str) -> list[VolumeMount]:
    vols = svc.get("volumes")
    out: list[VolumeMount] = []
    if not isinstance(vols, LineList):
        return out
    for item, line in zip(vols, vols.lines, strict=True):
        if isinstance(item, LineMap):
            vtype, source, target = _s(item.get("type")) or "volume", _s(item.get("source")), _s(item.get("target"))
            problem = None if target and target.startswith("/") else "long syntax without an absolute `target`"
            kind: MountKind = "bind" if vtype == "bind" else "tmpfs" if vtype == "tmpfs" else \
                "volume" if source else "anonymous"
            if kind == "volume" and source and source not in declared and problem is None:
                problem = f"volume {source!r} is not declared under the top-level `volumes:`"
            out.append(VolumeMount(spec=f"{source or ''}:{target or ''}", source=source, target=target or "",
                                   kind=kind, file=file, line=line, problem=problem))
        elif item is not None:
            out.append(_short_volume(str(item), declared, file, line))
    return out


def _joined(value: Any) -> str | None:
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return _s(value)


def read_compose(services: LineMap, declared: LineMap, file: str) -> ManifestResult:
    result = ManifestResult(is_compose=True)
    for name, svc in services.items():
        if not isinstance(svc, LineMap):
            continue
        image = _s(svc.get("image"))
        if not runs_rabbitmq(image, name, svc):
            continue
        volumes = _compose_volumes(svc, declared, file)
        deploy = svc.get("deploy")
        replicas = deploy.get("replicas") if isinstance(deploy, LineMap) else None
        workload = Workload(
            name=name, kind="compose", file=file, line=services.lines[name], image=image,
            image_line=line_of(svc, "image") if image else None,
            hostname=_s(svc.get("hostname")), env=_compose_env(svc, file), volumes=volumes,
            persistent=any(v.target.rstrip("/") in {d.rstrip("/") for d in DATA_DIRS} and v.kind in {"bind", "volume"}
                           for v in volumes),
            replicas=replicas if isinstance(replicas, int) else None,
            command=" ".join(filter(None, (_joined(svc.get("entrypoint")), _joined(svc.get("command"))))) or None,
        )
        result.workloads.append(workload)
        result.mounted += [(v.source, v.target) for v in volumes if v.kind == "bind" and v.source]
    return result


# --- Kubernetes


def _k8s_env(container: LineMap, file: str) -> list[EnvSetting]:
    env = container.get("env")
    out = []
    if isinstance(env, LineList):
        for item, line in zip(env, env.lines, strict=True):
            if isinstance(item, LineMap) and isinstance(item.get("name"), str):
                value = item.get("value")
                if value is None:
                    out.append(EnvSetting(name=item["name"], value="(valueFrom)", file=file, line=line))
                else:
                    out.append(env_setting(item["name"], str(value), file, line))
    return out


def _pod_workload(obj: LineMap, kind: str, file: str, result: ManifestResult) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, LineMap):
        return
    template = spec.get("template") if kind != "Pod" else obj
    pod = template.get("spec") if isinstance(template, LineMap) else None
    if not isinstance(pod, LineMap):
        return
    containers = pod.get("containers")
    if not isinstance(containers, LineList):
        return
    claims = spec.get("volumeClaimTemplates")
    claim_names = {str(c.get("metadata", {}).get("name")) for c in claims if isinstance(c, LineMap)
                   and isinstance(c.get("metadata"), LineMap)} if isinstance(claims, LineList) else set()
    pod_volumes = pod.get("volumes")
    persistent_volumes = set(claim_names)
    if isinstance(pod_volumes, LineList):
        for v in pod_volumes:
            if isinstance(v, LineMap) and ("persistentVolumeClaim" in v or "hostPath" in v):
                persistent_volumes.add(str(v.get("name")))
    meta = obj.get("metadata")
    name = str(meta.get("name")) if isinstance(meta, LineMap) and meta.get("name") else kind.lower()
    for container in containers:
        if not isinstance(container, LineMap) or \
                not runs_rabbitmq(_s(container.get("image")), str(container.get("name", "")), container):
            continue
        mounts = container.get("volumeMounts")
        volumes = []
        if isinstance(mounts, LineList):
            for m, line in zip(mounts, mounts.lines, strict=True):
                if isinstance(m, LineMap):
                    volumes.append(VolumeMount(spec=f"{m.get('name')}:{m.get('mountPath')}", source=_s(m.get("name")),
                                               target=str(m.get("mountPath") or ""), kind="k8s", file=file, line=line))
        replicas = spec.get("replicas")
        workload_kind: WorkloadKind = \
            "StatefulSet" if kind == "StatefulSet" else "Pod" if kind == "Pod" else "Deployment"
        result.workloads.append(Workload(
            name=name, kind=workload_kind, file=file, line=obj.line, image=_s(container.get("image")),
            image_line=line_of(container, "image"),
            stable_identity=kind == "StatefulSet" and bool(spec.get("serviceName")),
            replicas=replicas if isinstance(replicas, int) else (1 if kind != "StatefulSet" else None),
            env=_k8s_env(container, file), volumes=volumes,
            persistent=any(v.target.rstrip("/") in {d.rstrip("/") for d in DATA_DIRS} and v.source in persistent_volumes
                           for v in volumes),
            command=" ".join(filter(None, (_joined(container.get("command")), _joined(container.get("args"))))) or None,
        ))


def _embedded_conf(text: str, file: str, first_line: int, result: ManifestResult) -> list[Setting]:
    settings, problems = rabbitmq_conf.parse(text, file)
    for s in settings:
        s.line += first_line - 1
    for p in problems:
        p.line = (p.line or 1) + first_line - 1
    result.problems += problems
    return settings


def _config_map(obj: LineMap, file: str, result: ManifestResult) -> None:
    data = obj.get("data")
    if not isinstance(data, LineMap):
        return
    for key, value in data.items():
        if not isinstance(value, str):
            continue
        first = data.lines[key] + (1 if "\n" in value else 0)
        if key.endswith(".conf") and key != "rabbitmq-env.conf" and rabbitmq_conf.looks_like(value):
            result.settings += _embedded_conf(value, file, first, result)
        elif key == "enabled_plugins":
            try:
                terms = erlang.consult(value)
            except erlang.TermSyntaxError as exc:
                result.problems.append(ParseProblem(file=file, line=first + exc.line - 1, message=exc.message))
                continue
            if terms and isinstance(terms[0], erlang.EList):
                result.plugins = [str(t) for t in terms[0].items if isinstance(t, erlang.Atom)]
                result.plugins_line = data.lines[key]


def _secret(obj: LineMap, file: str, result: ManifestResult) -> None:
    for section, encoded in (("data", True), ("stringData", False)):
        data = obj.get(section)
        if not isinstance(data, LineMap):
            continue
        for key, value in data.items():
            if key not in COOKIE_KEYS or not isinstance(value, str) or rabbitmq_conf.templated(value):
                continue
            text = value
            if encoded:
                try:
                    text = base64.b64decode(value, validate=True).decode("utf-8")
                except (binascii.Error, UnicodeDecodeError):
                    result.problems.append(ParseProblem(file=file, line=data.lines[key],
                                                        message=f"Secret {section}.{key} is not valid base64"))
                    continue
            result.secrets.append(EnvSetting(name=f"Secret {section}.{key}", value="[redacted]", file=file,
                                             line=data.lines[key], cookie=cookie_traits(text.rstrip("\n"))))


def _rabbitmq_cluster(obj: LineMap, file: str, result: ManifestResult) -> None:
    spec = obj.get("spec") if isinstance(obj.get("spec"), LineMap) else LineMap()
    meta = obj.get("metadata")
    name = str(meta.get("name")) if isinstance(meta, LineMap) and meta.get("name") else "rabbitmqcluster"
    settings: list[Setting] = []
    rabbit = spec.get("rabbitmq") if isinstance(spec, LineMap) else None
    if isinstance(rabbit, LineMap) and isinstance(rabbit.get("additionalConfig"), str):
        settings = _embedded_conf(rabbit["additionalConfig"], file, rabbit.lines["additionalConfig"] + 1, result)
    persistence = spec.get("persistence") if isinstance(spec, LineMap) else None
    storage = persistence.get("storage") if isinstance(persistence, LineMap) else None
    replicas = spec.get("replicas") if isinstance(spec, LineMap) else None
    image = _s(spec.get("image")) if isinstance(spec, LineMap) else None
    result.workloads.append(Workload(
        name=name, kind="RabbitmqCluster", file=file, line=obj.line, image=image,
        image_line=line_of(spec, "image") if image else None, stable_identity=True,
        replicas=replicas if isinstance(replicas, int) else 1, settings=settings,
        persistent=str(storage) not in {"0", "0Gi", "0Mi"},  # the operator makes a claim unless storage is 0
    ))
    result.settings += settings


def read_kubernetes(docs: list[Any], file: str) -> ManifestResult:
    result = ManifestResult()
    queue = list(docs)
    while queue:
        obj = queue.pop(0)
        if not isinstance(obj, LineMap):
            continue
        kind = obj.get("kind")
        if kind == "List" and isinstance(obj.get("items"), list):
            queue.extend(obj["items"])
        elif kind in {"StatefulSet", "Deployment", "Pod", "DaemonSet"}:
            _pod_workload(obj, "Deployment" if kind == "DaemonSet" else str(kind), file, result)
        elif kind == "ConfigMap":
            _config_map(obj, file, result)
        elif kind == "Secret":
            _secret(obj, file, result)
        elif kind == "RabbitmqCluster":
            _rabbitmq_cluster(obj, file, result)
    return result


def is_kubernetes(docs: list[Any]) -> bool:
    return any(isinstance(d, LineMap) and "kind" in d and "apiVersion" in d for d in docs)
