"""What the config parsers hand to the rules: typed documents where every value carries file and line.

Secrets never enter these models: a cookie becomes a `CookieValue` (length, variety, fingerprint —
what SEC001 judges) and a password only says whether it is RabbitMQ's well-known default.
"""

from __future__ import annotations

from dataclasses import field
from typing import Literal

from rabbitmq_preflight.record import Record

DocumentKind = Literal["rabbitmq.conf", "advanced.config", "rabbitmq-env.conf", "enabled_plugins",
                       "definitions", "compose", "kubernetes"]
WorkloadKind = Literal["compose", "StatefulSet", "Deployment", "Pod", "RabbitmqCluster"]
MountKind = Literal["bind", "volume", "anonymous", "tmpfs", "k8s"]
REDACTED = "[redacted]"


class _Model(Record):
    pass


class CookieTraits(_Model):
    """The secret-free properties of a cookie found in a file (the fields of facts.CookieValue)."""

    fingerprint: str
    length: int
    distinct_chars: int
    well_known: bool = False
    repeated_pattern: bool = False
    edge_spaces: bool = False


class Setting(_Model):
    """One `key = value` of rabbitmq.conf, or one `{app, [{key, value}]}` of advanced.config (`app.key`)."""

    key: str
    value: str
    file: str
    line: int
    templated: bool = False  # holds a {{ template }} or ${VAR}: its type cannot be judged


class EnvSetting(_Model):
    name: str
    value: str  # REDACTED for secrets
    file: str
    line: int
    cookie: CookieTraits | None = None  # RABBITMQ_ERLANG_COOKIE and friends, when a literal
    default_password: bool = False  # a password that is `guest`


class VolumeMount(_Model):
    spec: str  # as written (short syntax) or "source:target" (long syntax / k8s)
    source: str | None  # host path, named volume or k8s volume name; None for an anonymous volume
    target: str
    kind: MountKind
    file: str
    line: int
    problem: str | None = None  # why Docker will not mount it as written


class Workload(_Model):
    """A service, pod template or RabbitmqCluster that runs RabbitMQ."""

    name: str
    kind: WorkloadKind
    file: str
    line: int
    image: str | None = None
    image_line: int | None = None
    hostname: str | None = None  # compose `hostname:`; k8s: the pod's stable name scheme when known
    stable_identity: bool = False  # k8s StatefulSet with serviceName, RabbitmqCluster
    replicas: int | None = None
    env: list[EnvSetting] = field(default_factory=list)
    volumes: list[VolumeMount] = field(default_factory=list)
    persistent: bool | None = None  # a volume (or claim) on /var/lib/rabbitmq
    settings: list[Setting] = field(default_factory=list)  # RabbitmqCluster additionalConfig, ConfigMap data
    mounted_configs: list[str] = field(default_factory=list)  # files linted because this workload mounts them
    unread_configs: list[str] = field(default_factory=list)  # config it mounts that is not among the files linted
    command: str | None = None


class ParseProblem(_Model):
    file: str
    line: int | None
    message: str
    template: bool = False  # the file is a template (.j2, .tmpl): the template engine may make it valid


class ConfigDocument(_Model):
    file: str
    kind: DocumentKind
    settings: list[Setting] = field(default_factory=list)
    env: list[EnvSetting] = field(default_factory=list)
    plugins: list[str] | None = None
    plugins_line: int | None = None
    workloads: list[Workload] = field(default_factory=list)
    secrets: list[EnvSetting] = field(default_factory=list)  # k8s Secret / ConfigMap keys holding a cookie
    problems: list[ParseProblem] = field(default_factory=list)
    rabbitmq_version: str | None = None  # definitions export
    host: str | None = None  # read over SSH on this node's host (`check --ssh`); `file` is then `node:path`


class ConfigFacts(_Model):
    """Every config document given to `lint` / `check --config`, and the version they are judged for."""

    documents: list[ConfigDocument] = field(default_factory=list)
    target: str | None = None  # "X.Y" from --rabbitmq or the inventory; image tags are per workload
    target_from: str | None = None  # "--rabbitmq", "inventory expect.rabbitmq"
    live: str | None = None  # the series the probed cluster runs (`check --config`): after image tags
    live_from: str | None = None
    # node -> the config files it uses that could not be read on its host (`check --ssh`); every node whose
    # config was collected is a key, so a host with no config file at all still counts as one node
    hosts: dict[str, list[str]] = field(default_factory=dict)
