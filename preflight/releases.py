"""What each RabbitMQ release series requires and changes, as data: one table edit per new release.

Every row names its source: the series' release notes (`release-notes/X.Y.Z.md` in
rabbitmq/rabbitmq-server), the `-rabbit_feature_flag` / `-rabbit_deprecated_feature` attributes at the
release tag (`vX.Y.Z`), or the docs pages `upgrade` (#rabbitmq-version-upgradability) and
`which-erlang`. The rules (VER001, VER004, HEALTH…) and `preflight plan` read these tables and nothing
else. See docs/reference.md §1 and §12.

Plain tuples and dataclasses only: rule modules import this at start-up.
"""

from __future__ import annotations

from rabbitmq_preflight.record import lean
from rabbitmq_preflight.versioning import Version

DeprecationPhase = str  # permitted_by_default | denied_by_default | disconnected | removed


@lean(frozen=True)
class UpgradeEdge:
    """A supported rolling upgrade from series `source` (at patch `min_patch` or later) to `target`."""

    source: str
    target: str
    min_patch: str | None = None  # e.g. "3.11.18": older 3.11 patches must first move to it
    note: str = ""
    cite: str = "docs: upgrade#rabbitmq-version-upgradability"


@lean(frozen=True)
class Deprecation:
    """A deprecated feature's phase from a series on (docs: deprecated-features-list)."""

    name: str
    phase: DeprecationPhase
    fix: str
    cite: str


@lean(frozen=True)
class Series:
    """One release series: Erlang/OTP window, newly required feature flags, deprecations."""

    series: str
    otp_min: str  # lowest OTP any patch of the series supports (docs: which-erlang)
    otp_max: str  # highest
    required_flags: tuple[str, ...] = ()  # flags that become required in this series: enabled before the upgrade
    all_flags_required: bool = False  # every flag the previous series knew must be enabled first
    deprecations: tuple[Deprecation, ...] = ()  # phase changes that take effect in this series
    cite: str = ""


_MIRRORING_FIX = ("migrate mirrored classic queues to quorum queues (or streams) and delete the ha-* policies: "
                  "`rabbitmqctl clear_policy -p VHOST NAME`; see docs: migrate-mcq-to-qq")
_RAM_FIX = "make every node a disc node: `rabbitmqctl stop_app; rabbitmqctl change_cluster_node_type disc`"
_TRANSIENT_FIX = "declare non-exclusive queues durable (or exclusive): transient non-exclusive queues are denied"
_GLOBAL_QOS_FIX = "have clients set per-consumer prefetch (basic.qos global=false)"

SERIES: tuple[Series, ...] = (
    Series("3.8", "21.3", "24.3", cite="release-notes/3.8.0.md; docs: which-erlang"),
    Series("3.9", "23.2", "25.2", cite="release-notes/3.9.0.md; docs: which-erlang"),
    Series("3.10", "23.2", "25.3", cite="release-notes/3.10.0.md; docs: which-erlang"),
    Series(
        "3.11", "25.0", "25.3",
        required_flags=("quorum_queue", "implicit_default_bindings", "virtual_host_metadata",
                        "maintenance_mode_status", "user_limits"),
        cite="release-notes/3.11.0.md (rabbitmq-server PR #5202); docs: which-erlang",
    ),
    Series(
        "3.12", "25.0", "26.2",
        required_flags=("classic_queue_type_delivery_support", "direct_exchange_routing_v2", "feature_flags_v2",
                        "stream_queue", "stream_single_active_consumer", "tracking_records_in_ets",
                        "listener_records_in_ets", "drop_unroutable_metric", "empty_basic_get_metric",
                        "classic_mirrored_queue_version"),
        all_flags_required=True,
        cite="release-notes/3.12.0.md; rabbit_feature_flag stability at v3.12.0; docs: which-erlang",
    ),
    Series(
        "3.13", "26.0", "26.2",
        deprecations=(
            Deprecation("classic_queue_mirroring", "permitted_by_default", _MIRRORING_FIX, "v3.13.0"),
            Deprecation("ram_node_type", "permitted_by_default", _RAM_FIX, "v3.13.0"),
            Deprecation("transient_nonexcl_queues", "permitted_by_default", _TRANSIENT_FIX, "v3.13.0"),
            Deprecation("global_qos", "permitted_by_default", _GLOBAL_QOS_FIX, "v3.13.0"),
            Deprecation("management_metrics_collection", "permitted_by_default",
                        "use Prometheus (rabbitmq_prometheus) for metrics", "v3.13.0"),
        ),
        cite="release-notes/3.13.0.md (deprecated features subsystem, rabbitmq-server #7390); docs: which-erlang",
    ),
    Series(
        "4.0", "26.2", "27.3",
        required_flags=("message_containers", "mqtt_v5", "stream_filtering", "restart_streams",
                        "stream_sac_coordinator_unblock_group", "stream_update_config_command",
                        "delete_ra_cluster_mqtt_node", "rabbit_mqtt_qos0_queue"),
        all_flags_required=True,
        deprecations=(
            Deprecation("classic_queue_mirroring", "removed", _MIRRORING_FIX, "release-notes/4.0.1.md"),
            Deprecation("amqp_address_v1", "permitted_by_default", "clients use AMQP 1.0 address format v2",
                        "v4.0.1"),
            Deprecation("queue_master_locator", "permitted_by_default",
                        "use queue-leader-locator instead of queue-master-locator", "v4.0.1"),
        ),
        cite="release-notes/4.0.1.md; docs: which-erlang",
    ),
    Series("4.1", "26.2", "27.3", cite="release-notes/4.1.0.md; docs: which-erlang",
           deprecations=(Deprecation("amqp_filter_set_bug", "permitted_by_default",
                                     "AMQP 1.0 clients use the fixed filter-set encoding", "v4.1.0"),)),
    Series("4.2", "26.2", "27.3", cite="release-notes/4.2.0.md; docs: which-erlang"),
    Series(
        "4.3", "26.2", "27.3",
        required_flags=("khepri_db", "rabbitmq_4.0.0", "rabbitmq_4.1.0", "rabbitmq_4.2.0",
                        "quorum_queue_non_voters", "message_containers_deaths_v2", "detailed_queues_endpoint",
                        "rabbit_exchange_type_local_random"),
        all_flags_required=True,
        deprecations=(
            Deprecation("ram_node_type", "removed", _RAM_FIX, "release-notes/4.3.0.md"),
            Deprecation("transient_nonexcl_queues", "denied_by_default", _TRANSIENT_FIX, "release-notes/4.3.0.md"),
            Deprecation("global_qos", "denied_by_default", _GLOBAL_QOS_FIX, "release-notes/4.3.0.md"),
            Deprecation("amqp_address_v1", "denied_by_default", "clients use AMQP 1.0 address format v2",
                        "release-notes/4.3.0.md"),
            Deprecation("queue_master_locator", "denied_by_default",
                        "use queue-leader-locator instead of queue-master-locator", "release-notes/4.3.0.md"),
            Deprecation("amqp_filter_set_bug", "denied_by_default",
                        "AMQP 1.0 clients use the fixed filter-set encoding", "release-notes/4.3.0.md"),
        ),
        cite="release-notes/4.3.0.md; docs: which-erlang",
    ),
)

EDGES: tuple[UpgradeEdge, ...] = (
    UpgradeEdge("3.7", "3.8", min_patch="3.7.18"),
    UpgradeEdge("3.8", "3.9"),
    UpgradeEdge("3.9", "3.10"),
    UpgradeEdge("3.10", "3.11", note="some feature flags must be enabled before"),
    UpgradeEdge("3.11", "3.12", min_patch="3.11.18", note="all feature flags must be enabled before"),
    UpgradeEdge("3.12", "3.13"),
    UpgradeEdge("3.13", "4.0", note="3.13 with Khepri enabled cannot upgrade in place (blue/green only)",
                cite="release-notes/4.0.1.md"),
    UpgradeEdge("3.13", "4.1"),
    UpgradeEdge("3.13", "4.2"),
    UpgradeEdge("4.0", "4.1"),
    UpgradeEdge("4.0", "4.2"),
    UpgradeEdge("4.1", "4.2"),
    UpgradeEdge("4.2", "4.3", note="a majority of nodes must stay online (Khepri)", cite="release-notes/4.3.0.md"),
)

DEPRECATED_FEATURES_API = (3, 13)  # GET /api/deprecated-features[/used] exists from 3.13.0 (commit 6288e9aa2c)


def series_info(series: str) -> Series | None:
    return next((s for s in SERIES if s.series == series), None)


def series_key(series: str) -> tuple[int, ...]:
    return tuple(int(p) for p in series.split("."))


def known_series() -> list[str]:
    return [s.series for s in SERIES]


def successors(series: str) -> tuple[str, ...]:
    return tuple(e.target for e in EDGES if e.source == series)


def edge(source: str, target: str) -> UpgradeEdge | None:
    return next((e for e in EDGES if e.source == source and e.target == target), None)


def upgrade_paths() -> dict[str, tuple[str, ...]]:
    """series → the series it may be upgraded to (and so mixed with, during the upgrade)."""
    out: dict[str, tuple[str, ...]] = {}
    for e in EDGES:
        out[e.source] = (*out.get(e.source, ()), e.target)
    return out


def route(source: str, target: str) -> list[str]:
    """The path from `source` to `target` with the fewest upgrades, preferring the next series at each
    step (3.13 → 4.0 → 4.1, never a jump that skips the series whose flags the next one requires)."""
    if source == target:
        return [source]
    best: list[str] = []
    frontier = [[source]]
    seen = {source}
    while frontier and not best:
        nxt_frontier = []
        for path in frontier:
            for nxt in sorted(successors(path[-1]), key=series_key):
                if nxt == target:
                    best = [*path, nxt]
                    break
                if nxt not in seen and series_key(nxt) < series_key(target):
                    seen.add(nxt)
                    nxt_frontier.append([*path, nxt])
            if best:
                break
        frontier = nxt_frontier
    return best


def otp_window(series: str) -> tuple[Version, Version] | None:
    info = series_info(series)
    if info is None:
        return None
    low, high = Version.parse(info.otp_min), Version.parse(info.otp_max)
    return (low, high) if low is not None and high is not None else None


def otp_majors(series: str) -> tuple[int, int] | None:
    window = otp_window(series)
    return (window[0].parts[0], window[1].parts[0]) if window else None


def otp_for_step(source: str, target: str) -> tuple[str, str] | None:
    """The Erlang/OTP window both series support: the nodes must run it during the rolling upgrade.
    None when the windows do not overlap (then a full-stop upgrade is needed)."""
    a, b = otp_window(source), otp_window(target)
    if a is None or b is None:
        return None
    low, high = max(a[0], b[0]), min(a[1], b[1])
    if low.parts[:2] > high.parts[:2]:
        return None
    return low.text, high.text


def deprecation_phase(name: str, series: str) -> Deprecation | None:
    """The feature's phase in `series`: the latest change at or before it."""
    found = None
    for info in SERIES:
        if series_key(info.series) > series_key(series):
            break
        for d in info.deprecations:
            if d.name == name:
                found = d
    return found


def deprecations_changed_by(series: str) -> tuple[Deprecation, ...]:
    info = series_info(series)
    return info.deprecations if info else ()
