"""`record.Record` against pydantic, the authority it stands in for.

- `strict_build` (the inventory's fast path) either declines or builds exactly what pydantic builds: on
  every inventory the tests use or write, and on seeded mutations of each (other types, bounds, unknown
  and missing keys, duplicate names, dangling joins, bad patterns). Whatever pydantic rejects, the fast
  path must decline; whatever the fast path accepts, pydantic must accept and build the same object.
- `model_dump` (our serializer) gives what pydantic's `TypeAdapter.dump_python` gives, in both modes, on
  real facts and reports (built by the tests' factories, judged by every rule, linted from config files).
- `outputs.model_json` is the JSON pydantic would write, byte for byte `json.dumps(indent=2)`, and stays
  valid JSON with NaN or a lone surrogate in it.
- The management password shows nowhere; inventory errors keep pydantic's wording, one line each.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import datetime as dt
import json
import math
import random
import textwrap
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from rabbitmq_preflight.configfiles.judge import with_config
from rabbitmq_preflight.configfiles.model import (
    ConfigDocument,
    ConfigFacts,
    CookieTraits,
    EnvSetting,
    ParseProblem,
    Setting,
    VolumeMount,
    Workload,
)
from rabbitmq_preflight.engine import run_rules
from rabbitmq_preflight.facts import (
    AmqpServer,
    BrokerProcess,
    ClockReading,
    ClusterNode,
    CookieFacts,
    CookieSource,
    CookieValue,
    DeprecatedFeature,
    Discovery,
    DiskSpace,
    DistHandshake,
    DistRegistration,
    EpmdNames,
    EpmdNode,
    ErlangProcess,
    Facts,
    FeatureFlag,
    HostConfig,
    HostConfigFile,
    HostFacts,
    InventorySummary,
    Listener,
    ManagementFacts,
    Membership,
    MgmtListener,
    MgmtOverview,
    NodeContents,
    NodeFacts,
    Observation,
    Origin,
    PolicyOrder,
    ProbeError,
    QueueRow,
    QueueTable,
    SshSession,
    View,
)
from rabbitmq_preflight.inventory import (
    ExpectSection,
    Inventory,
    InventoryError,
    ManagementSection,
    NodeSpec,
    Waiver,
    parse_inventory,
)
from rabbitmq_preflight.outputs import LARGE_DOCUMENT, model_json
from rabbitmq_preflight.record import Decline, Record, Secret, adapter, strict_build
from rabbitmq_preflight.report import JoinPlan, JoinStep, ReachabilityCell, ReachabilityRow, Report
from rabbitmq_preflight.rules import all_rules
from tests import factories as fx
from tests import ha_facts as ha
from tests.conftest import ROOT

CORPUS = ROOT.parent / "shared" / "corpus"

# --------------------------------------------------------------------------------------------------
# 1a. strict_build agrees with pydantic on inventories
# --------------------------------------------------------------------------------------------------


def _inventory_literals_in_tests() -> Iterator[tuple[str, str]]:
    """Every string constant in tests/ that is a whole inventory (`[[nodes]]`, parses as TOML)."""
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and "[[nodes]]" in node.value:
                try:
                    tomllib.loads(node.value)
                except tomllib.TOMLDecodeError:
                    continue  # a fragment (a template, a block to concatenate): rendered in WRITTEN below
                yield f"{path.relative_to(ROOT)}:{node.lineno}", node.value


# Inventories the tests write from f-strings and templates, rendered with the values they use.
WRITTEN: dict[str, str] = {
    "test_credentials BASE": '[cluster]\nname = "c"\ncookie_file = "/c/cookie"\n[management]\nuser = "monitoring"\n'
                             'password_file = "/c/pw"\n[[nodes]]\nname = "rabbit@a"\n',
    "test_exit_codes inventory+waiver": (
        '[cluster]\nname = "test"\n\n[[nodes]]\nname = "rabbit@a"\naddress = "127.0.0.1"\namqp_port = 1\n\n'
        '[[nodes]]\nname = "rabbit@b"\naddress = "127.0.0.1"\namqp_port = 1\n\n'
        '[[waivers]]\nrule = "port-refused"\nnode = "rabbit@b"\nreason = "CHG-1234 pending"\nexpires = 2099-12-31\n'),
    "test_exit_codes waiver without node or expiry": (
        '[[nodes]]\nname = "rabbit@a"\n\n[[waivers]]\nrule = "PORT001"\nreason = "r"\n'),
    "test_inputs password file": '[[nodes]]\nname = "rabbit@a"\n\n[management]\nuser = "u"\npassword_file = "/p/w"\n',
    "test_daemon_process / test_fleet closed port": (
        '[cluster]\nname = "unit"\nprobe_timeout = 0.5\ndeadline = 2.0\n\n[[nodes]]\nname = "rabbit@localhost"\n'
        'address = "127.0.0.1"\namqp_port = 40001\nepmd_port = 40001\n'),
    "test_fleet one node": '[cluster]\nname = "east"\n\n[[nodes]]\nname = "rabbit@rabbit1"\n',
    "test_dns_fake ghost host": (
        '[cluster]\nprobe_timeout = 1.0\ndeadline = 5.0\n\n[[nodes]]\nname = "rabbit@ghost-host"\n'
        'address = "127.0.0.1"\namqp_port = 40002\nepmd_port = 40002\nmanagement_port = 40002\n'),
    "test_hostile_mix inventory_toml": (
        '[cluster]\nname = "hostile"\nprobe_timeout = 5.0\ndeadline = 1.5\ncookie_file = "/t/cookie"\n\n'
        '[management]\nuser = "monitor"\npassword_file = "/t/password"\n\n'
        '[[nodes]]\nname = "rabbit@amqp-drip"\naddress = "127.0.0.1"\namqp_port = 40003\nepmd_port = 40004\n'
        'management_port = 40005\ndist_port = 40006\n\n'
        '[[nodes]]\nname = "rabbit@garbage"\naddress = "127.0.0.1"\namqp_port = 40007\n'),
    "test_join_lab / test_fault_matrix lab + extra nodes": (
        '[cluster]\nname = "lab"\n\n[[nodes]]\nname = "rabbit@rabbit1"\naddress = "198.18.0.11"\ntype = "disc"\n\n'
        '[[nodes]]\nname = "rabbit@rabbit4"\naddress = "198.18.0.14"\njoin = "rabbit@rabbit1"\ntype = "ram"\n\n'
        '[[nodes]]\nname = "rabbit@fake"\naddress = "127.0.0.1"\namqp_port = 40008\ntype = "disc"\n\n'
        '[expect]\nrabbitmq = "3.10"\n'),
    "ssh section, every key": (
        '[[nodes]]\nname = "rabbit@a"\nssh = "admin@10.0.0.1"\n\n[ssh]\nuser = "root"\nport = 2222\n'
        'identity_file = "/k/id"\nknown_hosts_file = "/k/kh"\nconnect_timeout = 3\nreuse = false\n'
        'control_persist = 0\ndata_dir = "/data"\ncookie_file = "/data/.erlang.cookie"\ncookie_owner = "rmq"\n'),
    "expect, every key": (
        '[[nodes]]\nname = "rabbit@a"\namqps_port = 5671\n\n[expect]\nrabbitmq = "3.13.1"\nerlang = "26"\n'
        'replicated = ["^orders\\\\.", "x|y"]\n'),
}
# /tmp/preflight-lab/inventory.toml (lab/cluster.sh writes it; not in the repository), as tomllib reads it.
LAB: dict[str, Any] = {
    "cluster": {"name": "lab", "probe_timeout": 2.0, "deadline": 15.0, "cookie_file": "/tmp/preflight-lab/cookie"},
    "management": {"user": "guest", "password_file": "/tmp/preflight-lab/mgmt-password", "scheme": "http"},
    "nodes": [{"name": f"rabbit@rabbit{i}", "address": f"198.18.0.1{i}", "type": "disc"} for i in (1, 2, 3)],
    "expect": {"rabbitmq": "3.10"},
    "ssh": {"user": "root", "identity_file": "/tmp/preflight-lab/ssh/id_ed25519",
            "known_hosts_file": "/tmp/preflight-lab/ssh/known_hosts"},
}


def known_inventories() -> dict[str, dict[str, Any]]:
    found = {where: tomllib.loads(text) for where, text in _inventory_literals_in_tests()}
    found |= {where: tomllib.loads(text) for where, text in WRITTEN.items()}
    found["systemd/inventory.example.toml"] = tomllib.loads((ROOT / "systemd" / "inventory.example.toml").read_text())
    found["lab inventory"] = copy.deepcopy(LAB)
    return {where: {**data, "source": "x"} for where, data in found.items()}


def typed(value: Any) -> Any:
    """`value` with every leaf tagged by its type: 5672 and 5672.0 (or True and 1) compare unequal."""
    if isinstance(value, dict):
        return {k: typed(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [typed(v) for v in value]
    return (type(value).__name__, value)


def assert_same(strict: Any, validated: Any, where: str) -> None:
    assert strict == validated, where
    assert typed(strict.model_dump()) == typed(validated.model_dump()), where
    assert typed(strict.model_dump(mode="json", by_alias=True)) == typed(
        validated.model_dump(mode="json", by_alias=True)), where
    assert strict.source == validated.source, where  # excluded from dumps, compared all the same
    assert repr(strict) == repr(validated), where


def test_strict_build_agrees_with_pydantic_on_every_known_inventory() -> None:
    inventories = known_inventories()
    assert len(inventories) >= 20, sorted(inventories)
    built = valid = 0
    for where, data in inventories.items():
        try:
            validated: Inventory | None = Inventory.model_validate(data)
        except ValidationError:  # some tests write a bad inventory on purpose
            validated = None
        valid += validated is not None
        try:
            strict = strict_build(Inventory, data)
        except Decline:
            continue
        assert validated is not None, f"the fast path accepted what pydantic rejects: {where}"
        built += 1
        assert_same(strict, validated, where)
    assert valid >= 20 and built >= valid - 2  # the fast path is the common path: well-formed files take it


# The replacement values a mutant puts at a leaf.
ODD_VALUES: list[Any] = [
    "5672", "0", "", "bad name", "rabbit@other", "rabbit@a\n", "/var/lib\n", "root\n", "/abs/path", "3.13", "((",
    "x" * 300, "a\ud800", 5672.0, 0.5, -0.0, float("nan"), float("inf"), -float("inf"), 1e308, True, False, None,
    -1, 0, 1, 65535, 65536, 86401, 2**63, 10**400, -(10**400), [], ["x"], ["("], [1], {}, {"zzz": 1},
    dt.date(2030, 1, 1), dt.datetime(2030, 1, 1, tzinfo=dt.UTC), dt.datetime(2030, 1, 1), dt.time(12, 0),
]
UNKNOWN_KEYS = ["zzz", "Name", "schema_", "discovered", "password", "source", " name", "amqp-port"]


def _paths(value: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    yield path, value
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*path, i))


def _at(data: Any, path: tuple[str | int, ...]) -> Any:
    for part in path:
        data = data[part]
    return data


def mutate(base: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    data = copy.deepcopy(base)
    spots = [p for p, _ in _paths(data) if p and p != ("source",)]
    containers = [p for p, v in _paths(data) if isinstance(v, dict)]
    kind = rng.randrange(10)
    nodes = data.get("nodes")
    if kind <= 3 and spots:  # a leaf (or a whole section) replaced by a value of another type
        path = rng.choice(spots)
        _at(data, path[:-1])[path[-1]] = copy.deepcopy(rng.choice(ODD_VALUES))
    elif kind == 4 and containers:  # an unknown key, possibly nested
        rng_value = copy.deepcopy(rng.choice([1, "x", {}, {"deep": {"er": 1}}, [1]]))
        _at(data, rng.choice(containers))[rng.choice(UNKNOWN_KEYS)] = rng_value
    elif kind == 5 and spots:  # a key removed (a required one, sometimes)
        path = rng.choice([p for p in spots if isinstance(p[-1], str)] or spots)
        parent = _at(data, path[:-1])
        if isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent.pop(path[-1])
    elif kind == 6 and isinstance(nodes, list) and nodes:  # a node listed twice
        nodes.append(copy.deepcopy(rng.choice(nodes)))
    elif kind == 7 and isinstance(nodes, list) and nodes:  # join: unknown node, itself, or a real one
        node = rng.choice(nodes)
        names = [n.get("name") for n in nodes if isinstance(n, dict)]
        if isinstance(node, dict):
            node["join"] = rng.choice([*names, "rabbit@nowhere", "not a name", 5])
    elif kind == 8:  # expect.replicated: patterns that do not compile, or odd items
        expect = data.setdefault("expect", {})
        if isinstance(expect, dict):
            expect["replicated"] = rng.choice([["("], ["ok", "[a-"], ["*"], [1], "^x", [], ["^a\\.", "b$"]])
    else:  # a section: waivers, ssh and management with odd members
        section = rng.choice(["waivers", "ssh", "management", "cluster"])
        data[section] = rng.choice([
            [{"rule": "PORT001", "reason": "r", "expires": rng.choice(
                [dt.date(2099, 1, 1), dt.datetime(2099, 1, 1, tzinfo=dt.UTC), "2099-01-01", 20990101, None])}],
            [{"rule": "", "reason": "r", "expires": dt.date(2099, 1, 1)}],
            {"user": rng.choice(["root", "root\n", "-x", "", 1]), "port": rng.choice([22, 0, "22"])},
            {"data_dir": rng.choice(["/d", "d", "/d\x01", "/d\n", ""]), "control_persist": rng.choice([0, -1, 60.0])},
            {"user": rng.choice(["u", ""]), "scheme": rng.choice(["http", "https", "ftp", "HTTP"])},
            {"verify_tls": rng.choice([True, "false", 0]), "user": "u"},
            {"probe_timeout": rng.choice([1, 0, 120, 121, 10**400, 1e-300, "2"]), "deadline": rng.choice([15, 3600.0])},
            {"cookie_file": rng.choice(["", "/c", 1, "c\x00"])},
        ])
    return data


def test_strict_build_agrees_with_pydantic_on_mutated_inventories() -> None:
    rng = random.Random(20261125)
    accepted = declined = rejected = 0
    for where, base in known_inventories().items():
        for i in range(250):
            data = mutate(base, rng)
            label = f"{where} mutant {i}: {data!r}"
            try:
                strict: Inventory | None = strict_build(Inventory, data)
            except Decline:
                strict = None
            # anything but Decline (OverflowError, TypeError…) escapes here and fails the test
            try:
                validated: Inventory | None = Inventory.model_validate(data)
            except ValidationError:
                validated = None
            if strict is not None:
                assert validated is not None, f"the fast path accepted what pydantic rejects: {label}"
                assert_same(strict, validated, label)
                accepted += 1
            else:
                declined += 1
                rejected += validated is None
    print(f"mutants: {accepted} built by the fast path, {declined} declined ({rejected} of them invalid)")
    assert accepted > 0 and declined > 0 and rejected > 0
    assert declined - rejected > 0  # and some declined that pydantic accepts (coercion: "5672", 5672.0, …)


@pytest.mark.parametrize(("section", "value"), [
    ({"cluster": {"probe_timeout": 10**400}}, "a huge integer where a float goes"),
    ({"ssh": {"data_dir": "/var/lib/rabbitmq/mnesia\n"}}, "a trailing newline that Python's `$` lets through"),
    ({"ssh": {"user": "root\n"}}, "the same, in the SSH user"),
])
def test_the_fast_path_declines_what_pydantic_rejects(section: dict[str, Any], value: str) -> None:
    data = {"nodes": [{"name": "rabbit@a"}], "source": "x", **section}
    with pytest.raises(Decline):
        strict_build(Inventory, data)
    with pytest.raises(ValidationError):
        Inventory.model_validate(data)


# --------------------------------------------------------------------------------------------------
# 1b. dumps agree with pydantic on real facts and reports
# --------------------------------------------------------------------------------------------------

T0 = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)


def kitchen_sink() -> Facts:
    """Facts with every class of the model, and the values whose spelling differs between dumpers:
    datetimes (UTC, another offset, naive, microseconds), paths, NamedTuple rows, int | float unions,
    nested Any dicts, empty and absent observations."""
    err = ProbeError(kind="timeout", detail="no answer in 2.0 s")
    cookie = CookieValue(fingerprint="abc==", length=20, distinct_chars=12, well_known=True)
    doc = ConfigDocument(
        file="docker-compose.yml", kind="compose",
        settings=[Setting(key="cluster_partition_handling", value="autoheal", file="rabbitmq.conf", line=3,
                          templated=True)],
        env=[EnvSetting(name="RABBITMQ_ERLANG_COOKIE", value="[redacted]", file="docker-compose.yml", line=9,
                        cookie=CookieTraits(fingerprint="f", length=5, distinct_chars=3, repeated_pattern=True))],
        plugins=["rabbitmq_management"], plugins_line=1,
        workloads=[Workload(name="rabbit1", kind="compose", file="docker-compose.yml", line=2, image="rabbitmq:3.13",
                            image_line=3, hostname="rabbit1", replicas=3, persistent=False,
                            env=[EnvSetting(name="RABBITMQ_DEFAULT_PASS", value="[redacted]", file="c", line=1,
                                            default_password=True)],
                            volumes=[VolumeMount(spec="./data:/var/lib/rabbitmq", source="./data",
                                                 target="/var/lib/rabbitmq", kind="bind", file="c", line=4,
                                                 problem=None),
                                     VolumeMount(spec="/x", source=None, target="/x", kind="anonymous", file="c",
                                                 line=5, problem="anonymous")],
                            mounted_configs=["rabbitmq.conf"], unread_configs=["advanced.config"], command="x")],
        problems=[ParseProblem(file="c", line=None, message="oops", template=True)],
        rabbitmq_version="3.13.1", host="rabbit@a",
    )
    mgmt = ManagementFacts(
        source="api", answered_by="rabbit@a", rabbitmq_version="3.13.1",
        nodes=Observation(value=[ClusterNode(name="rabbit@a", type="disc", running=True, partitions=["rabbit@b"],
                                             mem_used=1 << 40, mem_limit=2**62, fd_used=3, being_drained=False),
                                 ClusterNode(name="rabbit@b")], latency_ms=12.5),
        feature_flags=Observation(value=[FeatureFlag(name="quorum_queue", state="enabled", stability="stable")]),
        cluster_id=Observation(value="rabbitmq-cluster-id-abc"),
        policies=Observation(value=[ha.policy("ha", "^ha\\.", {"ha-mode": "exactly", "ha-params": 2,
                                                               "nested": {"a": [1, 2.5, None, True]}},
                                              priority=1)]),
        operator_policies=Observation(value=[ha.policy("op", ".*", {"max-length": 10**20}, priority=2)]),
        queues=Observation(value=QueueTable(rows=[
            QueueRow(vhost="/", name="q1"),
            QueueRow(vhost="v", name="q2", type="quorum", durable=False, auto_delete=True, exclusive=True,
                     node="rabbit@a", mirrors=["rabbit@b"], synchronised=[], members=["rabbit@a", "rabbit@b"],
                     online=["rabbit@a"], policy="ha", operator_policy="op",
                     effective={"ha-mode": "all", "x": {"y": [1.0, "z"]}}, arguments={"x-queue-type": "quorum"}),
        ], total_count=3, pages=1, page_count=2, cut_off="deadline")),
        deprecated_features=Observation(value=[DeprecatedFeature(name="transient_nonexcl_queues",
                                                                 deprecation_phase="permitted_by_default")]),
        policy_order={"/": Observation(value=PolicyOrder(policies=["b", "a"])), "v": Observation(error=err)},
    )
    node = NodeFacts(
        name="rabbit@a", target="10.0.0.1",
        ports={"amqp": fx.port("amqp", 5672, speaks_protocol=True, protocol_detail="AMQP 0-9-1"),
               "dist": fx.port("dist", 25672, "refused", detail="refused", latency_ms=None)},
        amqp=Observation(value=AmqpServer(product="RabbitMQ", version="3.13.1", mechanisms=["PLAIN", "AMQPLAIN"],
                                          locales=["en_US"], cluster_name="c"), latency_ms=0.25),
        epmd=Observation(value=EpmdNames(epmd_port=4369, nodes=[EpmdNode(alive="rabbit", port=25672)], cli_nodes=2)),
        dist_registration=Observation(value=DistRegistration(alive="rabbit", port=25672, node_type="hidden")),
        handshake=Observation(value=DistHandshake(verdict="rejected", port=25672, version=6, our_name="p@h",
                                                  remote_name="rabbit@a", name_matches=True, remote_flags="ff")),
        management=Observation(value=MgmtOverview(node="rabbit@a", erlang_version="26.2", listeners=[
            MgmtListener(node="rabbit@a", protocol="amqp", port=5672, ip_address="::")])),
        membership=Observation(value=Membership(members=["rabbit@a"], running=[])),
        contents=Observation(value=NodeContents(vhosts=["/"], users=["guest"], queues=2, queues_counted=2)),
    )
    view = View(
        origin=Origin(hostname="h", fqdn="h.example", node="rabbit@a", duration_ms=1234.5, deadline_reached=True,
                      collected_at=dt.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC),
                      collector_errors=["amqp (rabbit@a): KeyError"]),
        nodes={"rabbit@a": node, "rabbit@b": fx.node("rabbit@b", down=True)},
        cookie=CookieFacts(user="rabbitmq", effective="server_file", sources=[
            CookieSource(kind="server_file", path="/var/lib/rabbitmq/.erlang.cookie", present=True, readable=True,
                         regular=True, mode="0400", owner="rabbitmq", expected_owner="rabbitmq", size=20, value=cookie),
            CookieSource(kind="env", present=None, content_problem="bad_characters", error=err)],
            processes=Observation(value=[ErlangProcess(pid=42, user="rabbitmq", rabbit=True, cookie_in_cmdline=None,
                                                       exposed=cookie)])),
        management=Observation(value=mgmt, latency_ms=3.0),
        discovery=Discovery(asked=["rabbit@a"], answered_by="rabbit@a", members=["rabbit@a", "rabbit@c"],
                            added=["rabbit@c"], left_out=7),
        resolution={"a": fx.resolved("a", "10.0.0.1", hosts_file=["10.0.0.1"], dns=[]), "b": fx.resolved("b")},
        listeners=Observation(value=[Listener(address="0.0.0.0", port=5672, pid=1, process="beam.smp", user="r")]),
        host=HostFacts(data_dir="/var/lib/rabbitmq/mnesia", memory_bytes=8 << 30,
                       clock=ClockReading(remote=1.5, local_before=1.0, local_after=2),
                       process=Observation(value=BrokerProcess(pid=42, nofile_soft=1024, nofile_hard=None)),
                       disk=Observation(value=DiskSpace(path="/", available_bytes=10, total_bytes=100)),
                       node_dirs=Observation(error=err),
                       config=HostConfig(files=[HostConfigFile(kind="rabbitmq.conf", path="/etc/rabbitmq/rabbitmq.conf",
                                                               found_from="default", status="read")],
                                         documents=[doc])),
        ssh=SshSession(node="rabbit@a", target="root@a", status="ok", duration_ms=80.0, collector="1"),
    )
    other_view = View(origin=Origin(hostname="other", collected_at=dt.datetime(2026, 1, 2, 3, 4, 5,
                                                                                tzinfo=dt.timezone(dt.timedelta(hours=5,
                                                                                                                minutes=30)))),
                      listeners=Observation(error=err), management=Observation(error=err))
    summary = InventorySummary(
        cluster="c", source="inv.toml", management_configured=True, cookie_configured=True,
        nodes=[NodeSpec(name="rabbit@a", address="10.0.0.1", amqps_port=5671, type="disc", ssh="root@a"),
               NodeSpec(name="rabbit@b", join="rabbit@a", discovered=True)],
        expect=ExpectSection(rabbitmq="3.13", erlang="26", replicated=["^ha\\."]),
        waivers=[Waiver(rule="PORT001", node="rabbit@b", reason="CHG-1", expires=dt.date(2099, 12, 31))],
    )
    config = ConfigFacts(documents=[doc], target="3.13", target_from="--rabbitmq", live="3.13",
                         live_from="facts", hosts={"rabbit@a": ["/etc/rabbitmq/advanced.config"]})
    return Facts(tool_version="test", inventory=summary, views=[view, other_view], config=config)


def config_written(tmp_path: Path) -> Facts:
    """Config files through the real parsers (`preflight lint`): rabbitmq.conf, compose, an env file."""
    files = {
        "rabbitmq.conf": "cluster_formation.peer_discovery_backend = classic_config\n"
                         "cluster_formation.classic_config.nodes.1 = rabbit@rabbit1\ndefault_pass = guest\n"
                         "loopback_users.guest = false\nvm_memory_high_watermark.relative = 0.6\n",
        "docker-compose.yml": textwrap.dedent("""\
            services:
              rabbit1:
                image: rabbitmq:3.13-management
                hostname: rabbit1
                environment:
                  RABBITMQ_ERLANG_COOKIE: secretcookie
                  RABBITMQ_DEFAULT_PASS: guest
                volumes:
                  - ./rabbitmq.conf:/etc/rabbitmq/rabbitmq.conf
                  - data:/var/lib/rabbitmq
            volumes:
              data: {}
            """),
        "rabbitmq-env.conf": "NODENAME=rabbit@rabbit1\nRABBITMQ_ERLANG_COOKIE=abcabcabcabc\n",
        "enabled_plugins": "[rabbitmq_management,rabbitmq_peer_discovery_k8s].\n",
    }
    paths = []
    for name, text in files.items():
        (tmp_path / name).write_text(text)
        paths.append(tmp_path / name)
    return with_config(None, tuple(paths), "3.13", "--rabbitmq")


def real_facts(tmp_path: Path) -> dict[str, Facts]:
    three = ha.THREE
    found = {
        "kitchen sink": kitchen_sink(),
        "factories: up, down, mixed versions": fx.facts(fx.node("rabbit@a"), fx.node("rabbit@b", down=True),
                                                         fx.node("rabbit@c", "3.12.1", otp="26.0"),
                                                         expect=ExpectSection(rabbitmq="3.10"), origin_node="rabbit@a"),
        "ha: mirrored queues": ha.facts(ha.management(
            policies=[ha.policy("ha-all", "^ha\\.", {"ha-mode": "all", "ha-sync-mode": "automatic"})],
            queues=[ha.queue("ha.orders", node="rabbit@a", mirrors=["rabbit@b"], synchronised=[]),
                    ha.queue("plain"), ha.queue("qq", qtype="quorum", members=three, online=three[:2])],
            nodes=[ClusterNode(name=n, type="ram" if n.endswith("c") else "disc", running=n != "rabbit@b",
                               rabbitmq_version="3.10.8", mem_used=100, mem_limit=50) for n in three]),
            replicated=["^ha\\."]),
        "ha: definitions file": ha.facts(ha.management(source="definitions",
                                                       policies=[ha.policy("p", ".*", {"max-length": 1.5})])),
        "ha: management error": ha.facts(error=ProbeError(kind="forbidden", detail="403 Forbidden")),
        "config files": config_written(tmp_path),
    }
    if CORPUS.is_dir():  # real compose files, manifests and configs, when the shared corpus is beside the repo
        paths = sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.parent.name in ("compose", "conf"))
        found["shared corpus"] = with_config(None, tuple(paths), "3.13", "--rabbitmq")
    return found


def with_extras(report: Report) -> Report:
    """A report with the parts only `check --join` / `--ssh` fill in."""
    return report.model_copy(update={
        "join": [JoinPlan(node="rabbit@d", into="rabbit@a", ram=True, verdict="cannot tell", reasons=["x"],
                          steps=[JoinStep(host="d", command="rabbitmqctl stop_app", why="first")])],
        "reachability": [ReachabilityRow(source="rabbit@a", node="rabbit@a", via="ssh", collected=False, reason="r",
                                         cells=[ReachabilityCell(node="rabbit@b", role="amqp", port=5672,
                                                                 status="open")])],
        "origins": ["h", "other"],
    })


def real_documents(tmp_path: Path) -> dict[str, Facts | Report]:
    rules = all_rules()
    out: dict[str, Facts | Report] = {}
    for name, f in real_facts(tmp_path).items():
        out[f"facts: {name}"] = f
        report = run_rules(f, rules, waivers=f.inventory.waivers, started_at=T0, collect_ms=12.25,
                           today=dt.date(2026, 11, 25))
        out[f"report: {name}"] = with_extras(report) if name == "kitchen sink" else report
    return out


@pytest.fixture(scope="module")
def documents(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Facts | Report]:
    return real_documents(tmp_path_factory.mktemp("config"))


def _loaded(doc: Facts | Report) -> Facts | Report:
    """The document as read back from its own file format (`preflight.facts/v1`, `preflight.report/v1`)."""
    return type(doc).model_validate_json(doc.to_json())


def test_real_documents_cover_every_kind_of_finding_and_class(documents: dict[str, Facts | Report]) -> None:
    reports = [d for d in documents.values() if isinstance(d, Report)]
    assert {f.severity for r in reports for f in r.findings} == {"info", "warning", "error", "critical"}
    assert {c.status for r in reports for c in r.checks} == {"pass", "fail", "unknown", "skipped"}
    assert any(f.waived for r in reports for f in r.findings)
    assert any(f.file is not None and f.line is not None for r in reports for f in r.findings)


def test_dumps_agree_with_pydantic_on_real_facts_and_reports(documents: dict[str, Facts | Report]) -> None:
    for where, original in documents.items():
        loaded = _loaded(original)
        assert loaded == original, where  # the file format round-trips
        assert type(loaded).model_validate_json(loaded.to_json()) == loaded, where
        for doc in (original, loaded):
            pyd = adapter(type(doc))
            ours_json = doc.model_dump(mode="json", by_alias=True)
            assert typed(ours_json) == typed(pyd.dump_python(doc, mode="json", by_alias=True)), where
            assert typed(doc.model_dump(mode="json")) == typed(pyd.dump_python(doc, mode="json")), where
            # Python mode: equal values. Only the containers' types may differ: pydantic gives a NamedTuple
            # row (QueueRow) back as a plain tuple inside a list, we keep the NamedTuple; both compare equal.
            assert doc.model_dump() == pyd.dump_python(doc), where
            assert doc.model_dump(by_alias=True) == pyd.dump_python(doc, by_alias=True), where
            assert typed(doc.model_dump()) == typed(pyd.dump_python(doc)), where


def test_the_aliases_are_the_file_names_and_python_names_stay_python(documents: dict[str, Facts | Report]) -> None:
    report = documents["report: kitchen sink"]
    assert isinstance(report, Report)
    by_alias, by_name = report.model_dump(mode="json", by_alias=True), report.model_dump(mode="json")
    assert by_alias["schema"] == "preflight.report/v1" and "schema_" not in by_alias
    assert "pass" in by_alias["summary"]["checks"] and "pass_" in by_name["summary"]["checks"]


# --------------------------------------------------------------------------------------------------
# 1c. outputs.model_json
# --------------------------------------------------------------------------------------------------


def _strict_loads(text: str) -> Any:
    def refuse(name: str) -> None:
        raise AssertionError(f"not JSON: {name}")

    return json.loads(text, parse_constant=refuse)


def test_model_json_is_the_json_pydantic_writes_and_json_dumps_byte_for_byte(
        documents: dict[str, Facts | Report]) -> None:
    for where, doc in documents.items():
        text = model_json(doc)
        data = doc.model_dump(mode="json", by_alias=True)
        assert text == json.dumps(data, indent=2, ensure_ascii=False), where
        assert _strict_loads(text) == json.loads(adapter(type(doc)).dump_json(doc, by_alias=True)), where


def test_large_documents_written_by_pydantic_are_the_same_bytes(documents: dict[str, Facts | Report]) -> None:
    """From LARGE_DOCUMENT records model_json hands the writing to pydantic's serializer: same bytes."""
    for where, doc in documents.items():
        assert model_json(doc, records=LARGE_DOCUMENT) == model_json(doc), where


def test_a_large_document_pydantic_refuses_is_written_by_ours() -> None:
    """A lone surrogate makes pydantic's serializer refuse: the document is still written, sanitized."""
    doc = fx.facts(fx.node("rabbit@a", ports=[fx.port("amqp", 5672, detail="peer said \ud800!")]))
    text = model_json(doc, records=LARGE_DOCUMENT)
    assert text == model_json(doc)
    assert _strict_loads(text)["views"][0]["nodes"]["rabbit@a"]["ports"]["amqp"]["detail"] == "peer said \\ud800!"


def test_model_json_stays_valid_json_with_nan_and_a_lone_surrogate() -> None:
    odd = fx.node("rabbit@a", ports=[fx.port("amqp", 5672, latency_ms=float("nan"), detail="peer said \ud800!"),
                                     fx.port("epmd", 4369, latency_ms=float("inf"))])
    doc = fx.facts(odd)
    text = model_json(doc)
    text.encode("utf-8")  # no surrogate left: writable as UTF-8
    data = _strict_loads(text)
    ports = data["views"][0]["nodes"]["rabbit@a"]["ports"]
    assert ports["amqp"]["latency_ms"] is None and ports["epmd"]["latency_ms"] is None
    assert ports["amqp"]["detail"] == "peer said \\ud800!"  # the escape, as text
    assert doc.to_json() == text + "\n"
    # pydantic writes NaN and infinity as null too
    pyd = json.loads(adapter(Facts).dump_json(fx.facts(fx.node("rabbit@a", ports=[
        fx.port("amqp", 5672, latency_ms=float("nan"))])), by_alias=True))
    assert pyd["views"][0]["nodes"]["rabbit@a"]["ports"]["amqp"]["latency_ms"] is None


# --------------------------------------------------------------------------------------------------
# 1d. the management password
# --------------------------------------------------------------------------------------------------

PASSWORD = "s3cr3t-value"


def test_the_password_shows_in_no_repr_str_or_dump() -> None:
    section = ManagementSection(user="u", password=Secret(PASSWORD))
    inv = Inventory(nodes=[NodeSpec(name="rabbit@a")], management=section)
    assert section.password is not None and section.password.get_secret_value() == PASSWORD
    shown: list[Callable[[], object]] = [
        lambda: repr(section), lambda: str(section), lambda: section.model_dump(),
        lambda: section.model_dump(mode="json"), lambda: section.model_dump(mode="json", by_alias=True),
        lambda: section.model_dump_json(), lambda: repr(section.password), lambda: str(section.password),
        lambda: repr(inv), lambda: str(inv), lambda: inv.model_dump(), lambda: inv.model_dump(mode="json"),
        lambda: inv.model_dump(mode="json", by_alias=True), lambda: inv.model_dump_json(),
        lambda: InventorySummary.of(inv).model_dump(mode="json"),
    ]
    for show in shown:
        assert PASSWORD not in str(show())
    assert "password" not in section.model_dump() and "password" not in inv.model_dump()["management"]


# --------------------------------------------------------------------------------------------------
# 1e. inventory errors keep their wording
# --------------------------------------------------------------------------------------------------

ONE = [{"name": "rabbit@a"}]


@pytest.mark.parametrize(("data", "lines"), [
    ({"nodes": [{"name": "rabbit@a", "amqp_port": 0}]},
     ["inv.toml: nodes[0].amqp_port: Input should be greater than or equal to 1"]),
    ({"nodes": [{"name": "rabbit@a", "zzz": 1}]}, ["inv.toml: nodes[0].zzz: unknown key"]),
    ({"nodes": [{"name": "rabbit@a", "odd key": 1}]}, ['inv.toml: nodes[0]."odd key": unknown key']),
    ({"nodes": [{"address": "10.0.0.1"}]}, ["inv.toml: nodes[0].name: Field required"]),
    ({"nodes": [{"name": "a@b"}, {"name": "a@b"}]}, ["inv.toml: (top level): node 'a@b' is listed twice"]),
    ({"nodes": [{"name": "bad name"}]},
     ["inv.toml: nodes[0].name: must look like prefix@host, as rabbitmqctl shows it (got 'bad name')"]),
    ({"nodes": ONE, "cluster": {"probe_timeout": 0}},
     ["inv.toml: cluster.probe_timeout: Input should be greater than 0"]),
    ({"nodes": ONE, "cluster": {"probe_timeout": 10**400}},
     ["inv.toml: cluster.probe_timeout: Input should be a valid number"]),
    ({"nodes": ONE, "clusterr": {}}, ["inv.toml: clusterr: unknown key"]),
    ({"nodes": []}, ["inv.toml: nodes: List should have at least 1 item after validation, not 0"]),
    ({"nodes": ONE, "expect": {"replicated": ["("]}},
     ["inv.toml: expect.replicated: '(' is not a valid regular expression: missing ), unterminated subpattern at "
      "position 0"]),
    ({"nodes": [{"name": "rabbit@a", "join": "rabbit@zz"}]},
     ["inv.toml: (top level): node 'rabbit@a': join = 'rabbit@zz' names no node of the inventory (list the seed "
      "node too)"]),
    ({"nodes": [{"name": "rabbit@a", "amqp_port": "5672x", "type": "disk"}]},
     ["inv.toml: nodes[0].amqp_port: Input should be a valid integer, unable to parse string as an integer",
      "inv.toml: nodes[0].type: Input should be 'disc' or 'ram'"]),
    ({"nodes": ONE, "ssh": {"data_dir": "/var/lib\n"}},
     ["inv.toml: ssh.data_dir: String should match pattern '^/[^\\x00-\\x1f]*$'"]),
    ({"nodes": ONE, "waivers": [{"rule": "X", "reason": "r", "expires": "soon"}]},
     ["inv.toml: waivers[0].expires: Input should be a valid date or datetime, input is too short"]),
])
def test_inventory_errors_keep_their_wording(data: dict[str, object], lines: list[str]) -> None:
    with pytest.raises(InventoryError) as caught:
        parse_inventory(data, "inv.toml")
    assert caught.value.problems == lines


def test_a_coercible_inventory_still_loads_through_pydantic() -> None:
    data: dict[str, object] = {"nodes": [{"name": "rabbit@a", "amqp_port": "5673"}], "cluster": {"deadline": 20}}
    with pytest.raises(Decline):
        strict_build(Inventory, {**data, "source": "inv.toml"})
    inv = parse_inventory(data, "inv.toml")
    assert inv.nodes[0].amqp_port == 5673 and inv.cluster.deadline == 20.0
    assert isinstance(inv.cluster.deadline, float) and not math.isnan(inv.cluster.deadline)


def test_records_are_plain_dataclasses_and_validate_lazily() -> None:
    assert issubclass(Inventory, Record) and dataclasses.fields(Inventory)[0].name == "source"
    assert strict_build(Inventory, {"nodes": ONE, "source": "s"}) == Inventory(source="s", nodes=[NodeSpec(
        name="rabbit@a")])


@pytest.mark.parametrize(("data", "said"), [
    ({"schema": "preflight.facts/v1", "tool_version": "x", "inventory": {"cluster": "c", "source": "s", "nodes": []},
      "views": [{"origin": {"hostname": "h", "collected_at": "2026-01-01T00:00:00Z", "bogus": 1}}]},
     "views.0.origin.bogus: Extra inputs are not permitted"),
    ({"schema": "preflight.facts/v1", "inventory": {"cluster": "c", "source": "s", "nodes": []}, "views": []},
     "tool_version: Field required"),
])
def test_a_bad_facts_file_is_worded_as_pydantic_words_a_model(tmp_path: Path, data: dict[str, Any], said: str) -> None:
    """Dataclasses get other error types from pydantic (unexpected/missing keyword argument); a facts
    file's error keeps the words it had when Facts was a pydantic model."""
    from rabbitmq_preflight.errors import UsageError
    from rabbitmq_preflight.pipeline import load_facts_file

    path = tmp_path / "facts.json"
    path.write_text(json.dumps(data))
    with pytest.raises(UsageError) as caught:
        load_facts_file(path)
    assert caught.value.lines == [f"{path}: not a preflight facts file: {said}"]
