"""Facts: what was observed, from where, and how each observation went.

Every observation is an `Observation`: a value, or a typed error (`ProbeError`), with the probe's
latency. `None` in a field means "not attempted" (a prerequisite failed, or the probe does not
apply) and rules must treat it as unknown, never as a pass.

Facts are collected from a vantage point (`View`: the host where `preflight collect` ran). A
`Facts` document holds one or more views, so snapshots taken on every host of a cluster can be
merged (`--facts a.json --facts b.json`) and judged in one place. Nothing secret is stored: no
cookie, no password; cookie comparisons use fingerprints or handshake verdicts.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import field
from typing import Annotated, Any, Generic, Literal, NamedTuple, TypeVar

from rabbitmq_preflight.configfiles.model import ConfigDocument, ConfigFacts, DocumentKind
from rabbitmq_preflight.inventory import ExpectSection, Inventory, NodeSpec, Waiver
from rabbitmq_preflight.outcomes import ErrorKind, ProbeFailure
from rabbitmq_preflight.record import MinLen, Record

FACTS_SCHEMA: Literal["preflight.facts/v1"] = "preflight.facts/v1"

T = TypeVar("T")


class _Model(Record):
    pass


class ProbeError(_Model):
    kind: ErrorKind
    detail: str

    @classmethod
    def of(cls, failure: ProbeFailure) -> ProbeError:
        return cls(kind=failure.kind, detail=failure.detail)


class Observation(_Model, Generic[T]):
    """A value or a typed error, never both; latency of the probe that produced it."""

    value: T | None = None
    error: ProbeError | None = None
    latency_ms: float | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.value is not None

    def reason(self) -> str:
        """Why there is no value, in words fit for a finding."""
        if self.error is not None:
            return self.error.detail
        return "no value was observed"


NodeType = Literal["normal", "hidden", "unknown"]  # EPMD's node type byte: M, H, other
PortRole = Literal["epmd", "dist", "amqp", "amqps", "management"]
PortStatus = Literal["open"] | ErrorKind


class PortCheck(_Model):
    """One TCP port of one node as seen from the view's host."""

    role: PortRole
    port: int
    status: PortStatus
    latency_ms: float | None = None
    detail: str | None = None
    # None: the protocol was not tested; False: the port is open but answers something else.
    speaks_protocol: bool | None = None
    protocol_detail: str | None = None


class AmqpServer(_Model):
    """What `Connection.Start` tells about a node, unauthenticated."""

    product: str | None = None
    version: str | None = None
    platform: str | None = None
    cluster_name: str | None = None
    mechanisms: list[str] = field(default_factory=list)
    locales: list[str] = field(default_factory=list)
    protocol: str = "0-9-1"


class Membership(_Model):
    """The members this node lists in its own `/api/nodes`: the cluster it belongs to, in its own eyes."""

    members: list[str] = field(default_factory=list)
    running: list[str] = field(default_factory=list)


class NodeContents(_Model):
    """What a node holds that `rabbitmqctl reset` deletes, counted from its own management API."""

    vhosts: list[str] = field(default_factory=list)
    users: list[str] = field(default_factory=list)
    policies: int = 0
    queues: int = 0
    messages_ready: int = 0
    messages_unacknowledged: int = 0
    queues_counted: int = 0  # queue rows whose messages were summed (at most one page)


class NodeFacts(_Model):
    name: str
    target: str
    ports: dict[str, PortCheck] = field(default_factory=dict)
    amqp: Observation[AmqpServer] | None = None
    epmd: Observation[EpmdNames] | None = None  # NAMES_REQ on the node's host
    dist_registration: Observation[DistRegistration] | None = None  # PORT_PLEASE2_REQ for the node
    handshake: Observation[DistHandshake] | None = None  # the local cookie against the node
    management: Observation[MgmtOverview] | None = None  # `/api/overview` as this node answers it
    membership: Observation[Membership] | None = None  # the cluster as this node itself sees it
    contents: Observation[NodeContents] | None = None  # what `reset` would destroy (joining nodes only)


class Origin(_Model):
    """The host a view was collected on."""

    hostname: str
    fqdn: str | None = None
    node: str | None = None  # the inventory node running on this host, when there is one
    collected_at: dt.datetime
    duration_ms: float = 0.0
    deadline_reached: bool = False
    collector_errors: list[str] = field(default_factory=list)  # "collector (node): ExceptionType" — bugs


class View(_Model):
    origin: Origin
    nodes: dict[str, NodeFacts] = field(default_factory=dict)
    cookie: CookieFacts | None = None  # the Erlang cookie as found on the view's host
    management: Observation[ManagementFacts] | None = None  # cluster-wide API facts, or a definitions file
    discovery: Discovery | None = None  # cluster members learned before probing
    resolution: dict[str, HostResolution] = field(default_factory=dict)  # node host part -> lookups
    listeners: Observation[list[Listener]] | None = None  # local listening TCP sockets and owners
    host: HostFacts | None = None  # the host itself (clock, the broker's fd limit, disk, data dir), over SSH
    ssh: SshSession | None = None  # how this view was collected over SSH (None: collected where it ran)


class InventorySummary(_Model):
    """The secret-free part of the inventory that rules need (expectations, node list)."""

    cluster: str
    source: str
    nodes: list[NodeSpec]
    expect: ExpectSection = field(default_factory=ExpectSection)
    management_configured: bool = False
    cookie_configured: bool = False
    waivers: list[Waiver] = field(default_factory=list)  # the judging inventory's, for WAIVER001

    @classmethod
    def of(cls, inv: Inventory) -> InventorySummary:
        return cls(
            cluster=inv.cluster.name,
            source=inv.source,
            nodes=list(inv.nodes),
            expect=inv.expect,
            management_configured=inv.management is not None,
            cookie_configured=inv.cluster.cookie_file is not None,
            waivers=list(inv.waivers),
        )

    def node(self, name: str) -> NodeSpec | None:
        # name → spec, built on first lookup (an attribute, not a field): rules ask once per node, and a
        # scan made that O(n²) (13 s of HOST003 at 10,000 nodes). Rebuilt if `nodes` is replaced or grows.
        index: tuple[int, int, dict[str, NodeSpec]] | None = self.__dict__.get("_by_name")
        if index is None or index[0] != id(self.nodes) or index[1] != len(self.nodes):
            by_name: dict[str, NodeSpec] = {}
            for n in self.nodes:
                by_name.setdefault(n.name, n)  # the first wins, as the scan did
            index = self.__dict__["_by_name"] = (id(self.nodes), len(self.nodes), by_name)
        return index[2].get(name)


class Facts(_Model):
    schema_: Literal["preflight.facts/v1"] = FACTS_SCHEMA  # `schema` in the file
    tool_version: str
    inventory: InventorySummary
    views: Annotated[list[View], MinLen(1)]
    config: ConfigFacts | None = None  # config files judged before deployment (`lint`, `check --config`)

    @property
    def node_names(self) -> list[str]:
        return [n.name for n in self.inventory.nodes]

    def to_json(self) -> str:
        """The facts file format (`preflight.facts/v1`): what `collect` and `--save-facts` write."""
        from rabbitmq_preflight.outputs import model_json  # valid JSON whatever a peer sent (NaN, surrogates)

        return model_json(self, records=20 * sum(len(view.nodes) for view in self.views)) + "\n"

    def observations(self, node: str) -> list[tuple[Origin, NodeFacts]]:
        """Every view's facts about `node`, with where they were observed from."""
        return [(v.origin, v.nodes[node]) for v in self.views if node in v.nodes]


def merge_facts(parts: list[Facts]) -> Facts:
    """Combine snapshots from several hosts: views are concatenated, node lists united."""
    if not parts:
        raise ValueError("nothing to merge")
    first = parts[0]
    nodes: dict[str, NodeSpec] = {}
    for n in (n for part in parts for n in part.inventory.nodes):
        if n.name not in nodes or nodes[n.name].discovered:  # an operator's entry wins over a discovered one
            nodes[n.name] = n
    summary = first.inventory.model_copy(
        update={
            "nodes": list(nodes.values()),
            "management_configured": any(p.inventory.management_configured for p in parts),
            "cookie_configured": any(p.inventory.cookie_configured for p in parts),
        }
    )
    return Facts(
        tool_version=first.tool_version,
        inventory=summary,
        views=[v for p in parts for v in p.views],
    )


# --- Erlang distribution: EPMD, the handshake and the local cookie (see preflight/collect/epmd.py,
# distribution.py and cookie.py). Never a cookie here: only fingerprints and verdicts.


class EpmdNode(_Model):
    """One `name <alive> at port <port>` line of an EPMD NAMES reply."""

    alive: str
    port: int


class EpmdNames(_Model):
    """The nodes registered with EPMD on a host (RabbitMQ CLI tools' own `rabbitmqcli-*` nodes left out)."""

    epmd_port: int
    nodes: list[EpmdNode] = field(default_factory=list)
    cli_nodes: int = 0  # rabbitmqcli-* entries seen and left out

    def port_of(self, alive: str) -> int | None:
        return next((n.port for n in self.nodes if n.alive == alive), None)


class DistRegistration(_Model):
    """EPMD's PORT_PLEASE2 answer for one node: its distribution port and protocol versions."""

    alive: str
    port: int
    node_type: NodeType = "normal"
    protocol: int = 0  # 0 = TCP/IPv4
    highest_version: int = 6
    lowest_version: int = 5


class DistHandshake(_Model):
    """The node's verdict on the local cookie, from a real distribution handshake (as a hidden node).

    A handshake that could not reach a verdict is an `Observation` error instead (status not ok, not a
    distribution port, silent peer…), so rules report it as unknown.
    """

    verdict: Literal["accepted", "rejected"]
    port: int
    version: int  # distribution protocol version used: 6 (OTP 23+) or 5
    our_name: str  # the probe's own node name: what the node logs on a rejection
    remote_name: str  # the name the node announced for itself in its challenge
    name_matches: bool  # remote_name is the inventory name we dialled (Erlang aborts when it is not)
    remote_flags: str | None = None  # the node's capability flags, hex


CookieSourceKind = Literal["cookie_file", "env", "server_file", "user_file"]
CookieContentProblem = Literal["empty", "bad_characters", "too_long"]


class CookieValue(_Model):
    """What can safely be said about one cookie value.

    `fingerprint` is base64(md5(cookie)), the format of `rabbitmq-diagnostics erlang_cookie_hash` and of
    the node's boot log line `cookie hash`. The MD5 of a weak cookie can be brute-forced: it is only
    safe to show for a strong one.
    """

    fingerprint: str
    length: int
    distinct_chars: int
    well_known: bool = False  # a value published in docs and compose files (`mycookie`, `secret cookie here`…)
    repeated_pattern: bool = False  # a short chunk repeated (`abcabcabc…`)
    edge_spaces: bool = False  # begins or ends with a space, which Erlang keeps


class CookieSource(_Model):
    """One place a cookie can come from, listed in the order the server and CLI tools use them."""

    kind: CookieSourceKind
    path: str | None = None  # file sources only
    present: bool | None  # the file exists / the variable is set (None: a directory on the way is not searchable)
    readable: bool | None = None
    regular: bool | None = None
    mode: str | None = None  # permission bits in octal, e.g. "0400"
    owner: str | None = None
    expected_owner: str | None = None  # who must own it for its user to read it (None: no expectation)
    size: int | None = None
    content_problem: CookieContentProblem | None = None  # why Erlang would refuse the content
    error: ProbeError | None = None  # why the file could not be inspected or read
    value: CookieValue | None = None

    @property
    def label(self) -> str:
        return self.path or "$RABBITMQ_ERLANG_COOKIE"


class ErlangProcess(_Model):
    """A local Erlang VM (beam.smp) and whether it exposes its cookie to other local users.

    None in a flag: the process could not be inspected (psutil AccessDenied), which is unknown, not clean.
    """

    pid: int
    user: str | None = None
    rabbit: bool = False  # runs RabbitMQ (`-s rabbit boot`)
    cookie_in_cmdline: bool | None = None  # `-setcookie` visible in `ps`
    cookie_in_env: bool | None = None  # RABBITMQ_ERLANG_COOKIE in its environment
    exposed: CookieValue | None = None  # the exposed cookie's fingerprint, when there is one


class CookieFacts(_Model):
    """The Erlang cookie as found on the view's host: sources, the one tested, and exposure."""

    user: str  # the user preflight ran as (whose ~/.erlang.cookie CLI tools read)
    sources: list[CookieSource] = field(default_factory=list)
    effective: CookieSourceKind | None = None  # the source the handshake presented; None: no usable cookie
    processes: Observation[list[ErlangProcess]] | None = None

    def source(self, kind: CookieSourceKind) -> CookieSource | None:
        return next((s for s in self.sources if s.kind == kind), None)


# --- Management HTTP API and definitions exports: node types, feature flags, policies, queues
# (see preflight/collect/management.py, preflight/definitions.py, preflight/policy.py).


class MgmtListener(_Model):
    """One listener of `/api/overview` (cluster-wide: every node's listeners)."""

    node: str
    protocol: str
    port: int
    ip_address: str | None = None


class MgmtOverview(_Model):
    """`/api/overview` as one node answers it: that node's own versions, and the cluster's listeners."""

    node: str | None = None  # the node that answered
    rabbitmq_version: str | None = None
    erlang_version: str | None = None  # "25.2.3"
    product_name: str | None = None
    product_version: str | None = None
    management_version: str | None = None
    cluster_name: str | None = None
    listeners: list[MgmtListener] = field(default_factory=list)


class ClusterNode(_Model):
    """One cluster member from `/api/nodes`. A stopped member only has name, type and running."""

    name: str
    type: Literal["disc", "ram"] | None = None
    running: bool | None = None
    partitions: list[str] = field(default_factory=list)
    mem_alarm: bool | None = None
    disk_free_alarm: bool | None = None
    rabbitmq_version: str | None = None  # the `rabbit` application's version
    # Resource use and limits (absent on a stopped node, or with management_agent.disable_metrics_collector).
    mem_used: int | None = None  # bytes
    mem_limit: int | None = None  # the memory high watermark, bytes
    disk_free: int | None = None  # bytes
    disk_free_limit: int | None = None  # bytes
    fd_used: int | None = None
    fd_total: int | None = None
    sockets_used: int | None = None
    sockets_total: int | None = None
    net_ticktime: int | None = None  # seconds
    being_drained: bool | None = None  # maintenance mode (`rabbitmq-upgrade drain`); absent before 3.8.x


class DeprecatedFeature(_Model):
    """One item of `/api/deprecated-features/used` (3.13+): a deprecated feature in use on the cluster."""

    name: str
    deprecation_phase: str | None = None  # permitted_by_default | denied_by_default | disconnected | removed
    state: str | None = None  # node-local: permitted | denied
    desc: str | None = None
    doc_url: str | None = None
    provided_by: str | None = None


class FeatureFlag(_Model):
    name: str
    state: str  # enabled | disabled | unavailable (not supported by every node: a mixed-version cluster)
    stability: str | None = None  # stable | experimental | required
    provided_by: str | None = None


class Policy(_Model):
    """A policy or operator policy, as listed by the API or found in a definitions export."""

    vhost: str
    name: str
    pattern: str
    apply_to: str = "all"  # all | queues | exchanges | classic_queues | quorum_queues | streams
    priority: int | float = 0
    definition: dict[str, Any] = field(default_factory=dict)


class PolicyOrder(_Model):
    """A vhost's policies and operator policies in the order its definitions export lists them
    (`GET /api/definitions/{vhost}`): RabbitMQ's runtime-parameters table order, the one its policy
    matching keeps among equal priorities (`/api/policies` sorts by name instead)."""

    policies: list[str] = field(default_factory=list)
    operator_policies: list[str] = field(default_factory=list)


class QueueRow(NamedTuple):
    """One queue, compactly (a JSON array in facts files: 100,000 of them must stay small).

    `None` means "the source did not say": mirror lists are absent on unmirrored classic queues, the
    policy columns until the node has emitted queue statistics, every live column in a definitions file.
    """

    vhost: str
    name: str
    type: str = "classic"  # classic | quorum | stream | other types as the broker names them
    durable: bool = True
    auto_delete: bool = False
    exclusive: bool = False
    node: str | None = None  # leader / master
    mirrors: list[str] | None = None  # slave_nodes
    synchronised: list[str] | None = None  # synchronised_slave_nodes
    members: list[str] | None = None  # quorum queues and streams
    online: list[str] | None = None
    policy: str | None = None  # observed, when the source says
    operator_policy: str | None = None
    effective: dict[str, Any] | None = None  # observed effective_policy_definition
    arguments: dict[str, Any] | None = None  # declared x-arguments, when any


class QueueTable(_Model):
    rows: list[QueueRow] = field(default_factory=list)
    total_count: int | None = None  # what the API announced: differs from len(rows) when queues churned
    pages: int = 0
    page_count: int | None = None  # pages the API announced (None: a source that does not page)
    # Why the table stops before the last announced page (the run's deadline, the cap on pages and rows),
    # None when every page was read. A cut-off table is judged as such: HA rules say "judged on N of M
    # queues" for what they found and never pass over it (rules/_ha.py `over_queue_table`).
    cut_off: str | None = None


class ManagementFacts(_Model):
    """Cluster-wide facts from one node's management API, or from a definitions export file.

    Each part is its own Observation: a monitoring user may read nodes and queues but get 403 on
    feature flags. A definitions file has no nodes, flags or live queue state (those stay None).
    """

    source: Literal["api", "definitions"]
    answered_by: str | None = None  # the node that answered, or the definitions file
    rabbitmq_version: str | None = None  # the answering node's, or the export's `rabbitmq_version`
    nodes: Observation[list[ClusterNode]] | None = None
    feature_flags: Observation[list[FeatureFlag]] | None = None
    cluster_id: Observation[str] | None = None  # global parameter internal_cluster_id
    policies: Observation[list[Policy]] | None = None
    operator_policies: Observation[list[Policy]] | None = None
    queues: Observation[QueueTable] | None = None
    # `/api/deprecated-features/used`, asked only of 3.13+ (the endpoint is 404 before): None = not asked
    deprecated_features: Observation[list[DeprecatedFeature]] | None = None
    # Per vhost whose policies (or operator policies) share a priority: the table order read from its
    # definitions export, or why it could not be read (it needs the administrator tag). None: not asked —
    # no tie, a definitions file, or facts from before this field.
    policy_order: dict[str, Observation[PolicyOrder]] | None = None
    # What the rules derive from this source once per run (HA coverage, `preflight.coverage`); never
    # serialised (an attribute, not a field). The judged facts carry their own cache: no module-level
    # memo outlives a run.

    @property
    def derived(self) -> dict[str, Any]:
        cache: dict[str, Any] = self.__dict__.setdefault("_derived", {})
        return cache


class Discovery(_Model):
    """Cluster members learned from one reachable node before probing. Those the inventory lacks were
    added as `discovered` nodes: reported (RUN004) and probed without secrets, never handshaken."""

    asked: list[str] = field(default_factory=list)  # nodes whose API was tried
    answered_by: str | None = None
    members: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)  # members the inventory did not list
    error: ProbeError | None = None
    # Members the inventory did not list beyond the cap (`collect.management.MAX_DISCOVERED`): named by
    # the peer but neither added nor probed. 0: the list was complete. `members` keeps at most the
    # inventory's nodes plus the cap, in the API's order.
    left_out: int = 0


# --- Name resolution and local listeners (see preflight/collect/resolve.py and localhost.py).


class HostResolution(_Model):
    """How one node host name resolves on the view's host, through each path that matters.

    `system` is getaddrinfo (nsswitch: /etc/hosts then DNS — what Erlang's native lookup uses);
    `hosts_file` the entries of /etc/hosts parsed directly (empty: no entry); `dns` dnspython's answer
    (which never reads /etc/hosts). They are compared because peers and CLI hosts may use another path.
    """

    host: str
    system: Observation[list[str]]
    hosts_file: list[str] = field(default_factory=list)
    dns: Observation[list[str]] | None = None


class Listener(_Model):
    """A local listening TCP socket and, when visible, the process that owns it."""

    address: str
    port: int
    pid: int | None = None
    process: str | None = None
    user: str | None = None


# --- Views collected on each node's host over SSH (see preflight/collect/ssh.py and hostview.py).

SshStatus = Literal["ok", "auth_failed", "unreachable", "timeout", "host_key_unknown", "no_shell", "bad_reply"]


class SshSession(_Model):
    """One SSH session to a node's host: where, as whom, and how it went (never a password prompt)."""

    node: str  # the inventory node whose host this is
    target: str  # what was given to ssh: `user@host` or `host`
    user: str | None = None  # None: ssh's own default (~/.ssh/config, then the local user)
    identity: str | None = None  # the key file the inventory names; None: the agent and ssh's default keys
    status: SshStatus
    detail: str | None = None
    fix: str | None = None  # the command or setting that makes the session work
    duration_ms: float | None = None
    collector: str | None = None  # the remote collector script's version, as it announced itself


class ClockReading(_Model):
    """The host's clock, read between two readings of the collector's clock (seconds since the epoch)."""

    remote: float
    local_before: float
    local_after: float

    @property
    def offset(self) -> float:
        """Host clock minus ours, at the midpoint of the exchange."""
        return self.remote - (self.local_before + self.local_after) / 2

    @property
    def uncertainty(self) -> float:
        return (self.local_after - self.local_before) / 2


class BrokerProcess(_Model):
    """The RabbitMQ Erlang VM on the host (`-s rabbit boot`) and its open-files limit."""

    pid: int
    user: str | None = None
    nofile_soft: int | None = None  # None: unlimited, or /proc/PID/limits not readable
    nofile_hard: int | None = None


class DiskSpace(_Model):
    path: str
    available_bytes: int
    total_bytes: int


class HostFacts(_Model):
    """Facts about the view's host itself, gathered there (no RabbitMQ CLI needed)."""

    data_dir: str  # the mnesia base directory looked at
    clock: ClockReading | None = None
    process: Observation[BrokerProcess] | None = None  # not_found: no RabbitMQ VM runs on the host
    disk: Observation[DiskSpace] | None = None  # free space where the data directory is
    node_dirs: Observation[list[str]] | None = None  # node directories (`rabbit@host`) under data_dir
    memory_bytes: int | None = None  # MemTotal: what disk_free_limit.relative multiplies
    config: HostConfig | None = None  # the node's config files, redacted on the host


HostConfigStatus = Literal["read", "absent", "denied", "too_large", "error"]


class HostConfigFile(_Model):
    """One config file the node uses, found where its environment points (or RabbitMQ's default path)."""

    kind: DocumentKind
    path: str
    found_from: str  # "default", "RABBITMQ_CONFIG_FILE in the node's environment", "CONFIG_FILE in …"
    status: HostConfigStatus
    detail: str | None = None  # why it was not read


class HostConfig(_Model):
    """The node's config files as read on its host (`check --ssh`), secrets already redacted there."""

    files: list[HostConfigFile] = field(default_factory=list)
    documents: list[ConfigDocument] = field(default_factory=list)  # parsed here; `file` is `node:path`
