"""`preflight lint` over the shared corpus of real files (../shared/corpus, origins in its SOURCES.md).

Every file is linted on its own (exit 0, 1 or 2 — never 3), then the whole directory at once, and the
findings are compared file by file with the table below: each row is a finding read off the file by
hand, with the reason. The rules are written for the class of problem, not for a row.
"""

from __future__ import annotations

import collections
from pathlib import Path

import pytest
from click.testing import CliRunner

from rabbitmq_preflight.cli import cli
from rabbitmq_preflight.configfiles.judge import with_config
from rabbitmq_preflight.rule import Fail
from rabbitmq_preflight.rules import all_rules

ROOT = Path(__file__).resolve().parents[3]
CORPUS = ROOT.parent / "shared" / "corpus"
pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"no corpus at {CORPUS} (the shared/ directory "
                                "beside the repository holds it)")

EXPECTED: list[tuple[str, str, str]] = [
    # rabbitmq.conf / advanced.config: keys that stop the boot
    ("conf/guhuajun__rabbitmq-ha-demo__conf_rabbitmq.conf", "CONF002",
     "management.listeners.port: the key is management.listener.port"),
    ("conf/NakaSato__gridtokenx-platform-infa__docker_rabbitmq_rabbitmq.conf", "CONF002",
     "default_consumer_timeout and log.default are no rabbitmq.conf keys (consumer_timeout, log.default.level)"),
    ("conf/jordelmir__gasolinera-deploy__config_rabbitmq_rabbitmq-prod.conf", "CONF002",
     "ha_promote_on_* and msg_store_* are advanced.config/policy settings, not rabbitmq.conf keys"),
    # guest reachable from the network, default password
    ("conf/guhuajun__rabbitmq-ha-demo__conf_rabbitmq.conf", "CONF013", "loopback_users.guest = false"),
    ("conf/cdivitotawela__rabbitmq-cluster__config_rabbitmq.conf", "CONF013", "loopback_users.guest = false"),
    ("conf/certego__BuffaLogs__config_rabbitmq_rabbitmq.conf", "CONF013", "loopback_users.guest = false"),
    ("conf/bogdando__rabbitmq-cluster-ocf-vagrant__conf_rabbitmq.config", "CONF013",
     "{loopback_users, []} in the classic config"),
    ("conf/rafaelszp__rabbit-cluster__config_rabbitmq.config", "CONF013", "{loopback_users, []}"),
    ("conf/pseudojo__docker-rabbitmq-cluster__rabbit_rabbitmq.conf", "CONF013", "loopback_users.guest = false"),
    ("conf/wetorek__rabbitmq-ha-cluster__config_rabbit-1_rabbitmq.conf", "CONF013", "loopback_users.guest = false"),
    ("conf/gaeco__rabbitmq-cluster-sample__rabbitmq_rabbitmq.conf", "CONF012", "default_pass = guest"),
    ("conf/mentels__docker-rabbitmq-cluster__config_rabbitmq.conf", "CONF012", "default_pass = guest"),
    # clustered configs without partition handling (3.x)
    ("conf/jfloff__rabbitmq-cluster-mirroed-queue__rabbitmq.conf", "CONF040",
     "classic_config cluster, no cluster_partition_handling"),
    ("conf/xxlabaza__rabbit-cluster-poc__rabbit-cluster_rabbitmq.conf", "CONF040",
     "peer discovery configured, no cluster_partition_handling"),
    # cookies written into compose files and manifests
    ("compose/cdivitotawela__rabbitmq-cluster__docker-compose.yaml", "CONF010",
     "RABBITMQ_ERLANG_COOKIE: 'ah38qsb2qH242rd' (15 characters: weak)"),
    ("compose/jfloff__rabbitmq-cluster-mirroed-queue__docker-compose.yml", "CONF010", "shared_cookie"),
    ("compose/nanit__kubernetes-rabbitmq-cluster__docker-compose.yml", "CONF010", "cookie AAAA"),
    ("compose/yousuf1922__rabbitmq-cluster__Deploy-Locally_docker-compose.yml", "CONF010", "SECURE_COOKIE"),
    ("compose/pedroarmando__rabbitmq-cluster__docker-compose.yml", "CONF010", "literal 25-character cookie"),
    ("compose/metabolomics-us__rabbitmq-cluster-swarm__docker-cloud.yml", "CONF010", "dockerClusterCookie"),
    ("compose/gpolunin__rabbitmq-cluster__kube-configs_stateful-set.yaml", "CONF010",
     "value: cluster_cookie in the StatefulSet env"),
    ("compose/gaeco__rabbitmq-cluster-sample__compose.yaml", "CONF011", "RABBITMQ_ERLANG_COOKIE in environment"),
    ("compose/hsu1943__rabbitmq-cluster-docker-compose__docker-compose.yml", "CONF011",
     "RABBITMQ_ERLANG_COOKIE: ${RABBITMQ_ERLANG_COOKIE} (in the environment, not committed)"),
    # identity
    ("compose/jordelmir__gasolinera-deploy__infrastructure_kubernetes_messaging_rabbitmq.yml", "CONF021",
     "RABBITMQ_NODENAME: rabbit@$(hostname -f): Kubernetes does not run shell"),
    ("compose/pseudojo__docker-rabbitmq-cluster__docker-compose.yml", "CONF020", "services without hostname:"),
    ("compose/guhuajun__rabbitmq-ha-demo__k8s_rabbitmq.yaml", "CONF020",
     "rabbitmq1 is a Deployment: every new pod has a new name, and so does the node"),
    ("compose/pedroarmando__rabbitmq-cluster__docker-compose.yml", "CONF020",
     "the rabbitmq-node service has no hostname: (only a comment mentions one)"),
    ("compose/danncastro__iac_rabbitmq_cluster_swarm__roles_docker_files_docker-compose.yml", "CONF023",
     "three services mount `.` as /var/lib/rabbitmq"),
    ("compose/tmikulin__docker-rabbitmq-cluster__docker-compose.yml", "CONF023",
     "rabbit1..3 share the named volume rabbitmq-data"),
    ("compose/mentels__docker-rabbitmq-cluster__docker-compose.yml", "CONF024", "no volume on /var/lib/rabbitmq"),
    ("compose/oneoneonepig__rabbitmq-cluster__docker-compose.yml", "CONF024", "no volume on /var/lib/rabbitmq"),
    # peer discovery
    ("compose/pardahlman__docker-rabbitmq-cluster__docker-compose.yml", "CONF032",
     "several nodes, no discovery config and no join command"),
    # images
    ("compose/KwonSungBong__spring-boot-rabbitmq-clustering-practice__docker_docker-rabbitmq-cluster_docker-compose.yml",
     "CONF042", "rabbitmq:3-management floats"),
    ("compose/danncastro__iac_rabbitmq_cluster_swarm__roles_docker_files_docker-compose.yml", "CONF042",
     "rabbitmq:3-management"),
    ("compose/cdivitotawela__rabbitmq-cluster__docker-compose.yaml", "CONF043", "rabbitmq:3.8.7-management"),
    ("compose/bijukunjummen__docker-rabbitmq-cluster__cluster_docker-compose.yml", "CONF043", "rabbitmq-server:3.7.0"),
    ("compose/rafaelszp__rabbit-cluster__docker-compose-ram.yml", "CONF043", "rabbitmq-server:3.6.5"),
    ("compose/danncastro__iac_rabbitmq_cluster_swarm__roles_docker_files_docker-compose.yml", "CONF050",
     "bitnami-style variable on the official image"),
    # files that do not parse
    ("compose/nanit__kubernetes-rabbitmq-cluster__kube_stateful.set.yml", "CONF001", "invalid YAML at line 57"),
    ("definitions/2327__dc_rabbitmq_federation__definitions.json", "CONF001", "not JSON"),
]

NOT_EXPECTED: list[tuple[str, str, str]] = [
    ("compose/StanislavKo__rabbitmq_cluster__docker-compose.yml", "CONF020",
     "the service without hostname is a bind9 DNS helper, not a broker"),
    ("compose/rabbitmq__cluster-operator__docs_examples_production-ready_rabbitmq.yaml", "CONF032",
     "the operator configures Kubernetes peer discovery itself"),
    ("compose/wetorek__rabbitmq-ha-cluster__docker-compose.yml", "CONF032",
     "its config comes from a mounted directory that is not in the corpus: cannot tell"),
    ("compose/hsu1943__rabbitmq-cluster-docker-compose__docker-compose.yml", "CONF010",
     "the cookie is ${RABBITMQ_ERLANG_COOKIE}, not a literal"),
]


@pytest.fixture(scope="module")
def findings() -> dict[str, set[str]]:
    facts = with_config(None, (CORPUS,), None, None)
    out: dict[str, set[str]] = collections.defaultdict(set)
    for r in all_rules():
        if r.family == "config":
            for res in r(facts):
                if isinstance(res, Fail):
                    assert res.file is not None and (res.line is None or res.line >= 1), (r.id, res)
                    out[str(Path(res.file).relative_to(CORPUS))].add(r.id)
    return out


def test_the_table_names_at_least_30_files() -> None:
    assert len({f for f, _, _ in EXPECTED}) >= 30
    assert all((CORPUS / f).is_file() for f, _, _ in EXPECTED + NOT_EXPECTED)


@pytest.mark.parametrize(("file", "rule", "reason"), EXPECTED, ids=[f"{r}:{f[:50]}" for f, r, _ in EXPECTED])
def test_expected_finding(findings: dict[str, set[str]], file: str, rule: str, reason: str) -> None:
    assert rule in findings.get(file, set()), reason


@pytest.mark.parametrize(("file", "rule", "reason"), NOT_EXPECTED, ids=[f"{r}:{f[:50]}" for f, r, _ in NOT_EXPECTED])
def test_finding_not_expected(findings: dict[str, set[str]], file: str, rule: str, reason: str) -> None:
    assert rule not in findings.get(file, set()), reason


def test_every_corpus_file_lints_without_an_internal_error() -> None:
    runner = CliRunner()
    codes = {}
    for path in sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.name != "SOURCES.md"):
        result = runner.invoke(cli, ["lint", "--format", "json", str(path)])
        codes[path.name] = result.exit_code
    assert len(codes) >= 110
    assert {name: code for name, code in codes.items() if code not in (0, 1, 2)} == {}
