"""Every real definitions file of ../shared/corpus/definitions judged as `check --definitions` judges it.

One row per file: the verdict (`2` refused as input, else the error-level HA rules, i.e. exit 1 when
any, 0 when none) and why that verdict is right. Issue 16: exports RabbitMQ writes are read (per-vhost,
`rabbitmqctl` operator policies, users/vhosts/permissions only), a missing version costs nothing when
no policy has an ha-* key, and a policy the release refuses is named (HA014).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rabbitmq_preflight.definitions import DefinitionsError, with_definitions
from rabbitmq_preflight.engine import run_rules
from rabbitmq_preflight.pipeline import choose_rules

CORPUS = Path(__file__).resolve().parents[3].parent / "shared" / "corpus" / "definitions"

REFUSED = 2
NO_MIRRORING = "classic queues and no mirroring policy: HA001 (single copies on a 3.x cluster)"

# file -> (verdict, why)
VERDICTS: dict[str, tuple[int | frozenset[str], str]] = {
    "2327__dc_rabbitmq_federation__definitions.json": (REFUSED, "the file is `{` alone: not JSON"),
    "2327__dc_rabbitmq_federation__definitions_.json": (frozenset({"HA001"}), NO_MIRRORING),
    "BiobankLab__sensitive-data-archive__rabbitmq_definitions.json": (frozenset({"HA001"}), NO_MIRRORING),
    "CloudBord__infrastructure__config_rabbitmq_definitions.json": (frozenset(), "no classic queue to mirror"),
    "FernandoBDAF__coppice__deploy_rabbitmq_definitions.json": (frozenset({"HA001"}), NO_MIRRORING),
    "FusionX-Tech__eagle-infrastructure__rabbitmq_definitions.json": (frozenset({"HA001"}), NO_MIRRORING),
    "KT-Cloud-2-BDS__bds_backend__services_chat-service_docker_rabbitmq_definitions.json": (
        frozenset(), "no rabbit_version and no ha-* key: HA008/HA009 answer for every version (issue 16.3)"),
    "KorotunM__diploma-thesis__infra_rabbitmq_definitions.json": (
        frozenset(), "no rabbit_version and no ha-* key: HA008/HA009 answer for every version (issue 16.3)"),
    "NakaSato__gridtokenx-platform-infa__docker_rabbitmq_definitions.json": (
        frozenset({"HA002"}), "dlx-policy (priority 1) wins over ha-all (priority 0): 6 queues not mirrored"),
    "SunBear1__VictorTravels__src_rabbitmq_definitions.json": (
        frozenset({"HA001"}), NO_MIRRORING + "; no version, but no ha-* key either (issue 16.3)"),
    "cloudify-cosmo__cloudify-manager__service_containers_rabbitmq_config_definitions.json": (
        frozenset({"HA008", "HA009"}), "ha-* keys and no rabbit_version: deprecated or removed depends on it"),
    "danncastro__iac_rabbitmq_cluster_swarm__roles_docker_files_definitions.json": (
        frozenset(), "mirrored on a 3.x release: HA008 deprecation is a warning"),
    "hacisimsek__real-time-order-system__deploy_rabbitmq_definitions.json": (frozenset({"HA001"}), NO_MIRRORING),
    "ivansostarko__docker-configs__rabbitmq_config_definitions.json": (frozenset(), "nothing to mirror"),
    "jfloff__rabbitmq-cluster-mirroed-queue__rabbit1-definitions.json": (
        REFUSED, "`\\-` is not a JSON escape (RabbitMQ's parser refuses it too)"),
    "jordelmir__gasolinera-deploy__config_rabbitmq_definitions.json": (frozenset(), "mirrored; HA008 warning"),
    "jordelmir__gasolinera-deploy__config_rabbitmq_dev-definitions.json": (frozenset(), "mirrored; HA008 warning"),
    "jordelmir__gasolinera-deploy__config_rabbitmq_prod-definitions.json": (
        frozenset({"HA014"}), "policy 'priority-queue-policy' sets max-priority, not a policy key: import fails"),
    "juliofalbo__complete-microservices-env__rabbitmq-definitions.json": (
        frozenset({"HA004", "HA008", "HA009"}), "ha-params 1 mirrors nothing; ha-* keys without a version"),
    "lukebakken__rabbitmq-server-11262__conf_definitions.json": (frozenset(), "nothing to mirror"),
    "lukebakken__vesc-1116__rmq-hdc_definitions.json": (frozenset(), "mirrored; HA008 warning"),
    "phanphu299__yoko-broker-service__rabbitmq_rabbitmq-definitions.json": (frozenset({"HA001"}), NO_MIRRORING),
    "possonom__thp-stateful-cluster__ansible_roles_rabbitmq_templates_definitions.json.j2": (
        frozenset({"HA008", "HA009"}), "ha-* keys and no rabbit_version"),
    "rabbitmq__cluster-operator__docs_examples_import-definitions_definitions.json": (
        frozenset({"HA001"}), NO_MIRRORING),
    "rabbitmq__rabbitmq-server__deps_rabbit_test_definition_import_SUITE_data_case1.json": (
        frozenset(), "no classic queue without cover"),
    "rabbitmq__rabbitmq-server__deps_rabbit_test_definition_import_SUITE_data_case10_case10b.json": (
        frozenset({"HA001"}), NO_MIRRORING),
    "rabbitmq__rabbitmq-server__deps_rabbit_test_definition_import_SUITE_data_case14.json": (
        frozenset({"HA001"}), NO_MIRRORING + "; no version, but no ha-* key either (issue 16.3)"),
    "rabbitmq__rabbitmq-server__deps_rabbit_test_definition_import_SUITE_data_case25.json": (
        frozenset(), "nothing to mirror"),
    "rabbitmq__rabbitmq-server__deps_rabbit_test_definition_import_SUITE_data_case3.json": (
        frozenset(), "nothing to mirror"),
    "rabbitmq__rabbitmq-server__deps_rabbit_test_definition_import_SUITE_data_case4.json": (
        frozenset({"HA001"}), NO_MIRRORING),
    "rabbitmq__rabbitmq-server__deps_rabbit_test_definition_import_SUITE_data_case7.json": (
        frozenset({"HA001"}), NO_MIRRORING),
    "rabbitmq__rabbitmq-server__deps_rabbit_test_definition_import_SUITE_data_failing_case17.json": (
        REFUSED, "a policy without a name: RabbitMQ's own failing case, refused with the entry named"),
    "rabbitmq__rabbitmq-server__deps_rabbit_test_definition_import_SUITE_data_failing_case20.json": (
        REFUSED, "broken JSON: RabbitMQ's own failing case"),
    "rabbitmq__rabbitmq-server__deps_rabbitmq_cli_test_fixtures_files_definitions.json": (
        frozenset(), "nothing to mirror"),
    "rabbitmq__rabbitmq-server__deps_rabbitmq_prometheus_docker_rabbitmq-dist-metrics-definitions.json": (
        frozenset({"HA004", "HA008", "HA009"}), "ha-params 1 mirrors nothing; ha-* keys without a version"),
    "rabbitmq__rabbitmq-server__deps_rabbitmq_prometheus_docker_rabbitmq-qq-definitions.json": (
        frozenset(), "users/vhosts/permissions only: an export RabbitMQ loads at boot (issue 16.2)"),
    "rabbitmq__rabbitmqadmin-ng__tests_fixtures_definitions_vhost.definitions.1.json": (
        frozenset(), "a 4.0.5 per-vhost export (vhost vh3): read, nothing mirrored on 4.x (issue 16.2)"),
    "saurabh727__Deployment_using_Ansible__ansible_roles_rabbitmq_templates_definitions.json.j2": (
        frozenset({"HA001"}), NO_MIRRORING),
    "shassshank__event-driven-order-processing-platform__deploy_rabbitmq_definitions.json": (
        frozenset({"HA001"}), NO_MIRRORING),
    "xxlabaza__rabbit-cluster-poc__rabbit-cluster_definitions.json": (
        frozenset({"HA008", "HA009"}), "ha-* keys and no rabbit_version"),
}

pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"no corpus at {CORPUS}")


def test_the_table_covers_every_file_of_the_corpus() -> None:
    assert sorted(p.name for p in CORPUS.iterdir() if p.is_file()) == sorted(VERDICTS)


@pytest.mark.parametrize("name", sorted(VERDICTS))
def test_corpus_file_verdict(name: str) -> None:
    expected, why = VERDICTS[name]
    try:
        facts = with_definitions(None, CORPUS / name)
    except DefinitionsError as exc:
        assert expected == REFUSED, f"{name}: refused ({exc}) but expected {expected}: {why}"
        return
    assert expected != REFUSED, f"{name}: read, but expected it refused: {why}"
    report = run_rules(facts, choose_rules(("ha-policy",)))
    errors = frozenset(f.rule for f in report.findings if f.severity in ("error", "critical") and not f.waived)
    assert errors == expected, f"{name}: {why}"
