"""rabbitmq.conf, env files and YAML manifests: values with their lines, bad lines as problems."""

from __future__ import annotations

from pathlib import Path

from rabbitmq_preflight.configfiles import envfile, rabbitmq_conf
from rabbitmq_preflight.configfiles.load import load_config
from rabbitmq_preflight.configfiles.model import REDACTED
from rabbitmq_preflight.configfiles.yaml_lines import load_all
from tests.config_files import write


def test_rabbitmq_conf_keeps_key_value_and_line_and_drops_comments() -> None:
    settings, problems = rabbitmq_conf.parse("# header\n\nlisteners.tcp.default = 5672  # inline\n"
                                             "cluster_partition_handling=autoheal\n", "r.conf")
    assert problems == []
    assert [(s.key, s.value, s.line) for s in settings] == [
        ("listeners.tcp.default", "5672", 3), ("cluster_partition_handling", "autoheal", 4)]


def test_rabbitmq_conf_line_without_equals_is_a_problem_on_its_line() -> None:
    settings, problems = rabbitmq_conf.parse("a = 1\nthis is not a setting\n", "r.conf")
    assert [s.key for s in settings] == ["a"]
    assert [(p.line, "not `key = value`" in p.message) for p in problems] == [(2, True)]


def test_rabbitmq_conf_never_keeps_a_password_except_guest() -> None:
    settings, _ = rabbitmq_conf.parse("default_pass = s3cret\ndefault_user = admin\n"
                                      "management.ssl.password = x\n", "r.conf")
    assert [s.value for s in settings] == [REDACTED, "admin", REDACTED]
    settings, _ = rabbitmq_conf.parse("default_pass = guest\n", "r.conf")
    assert settings[0].value == "guest"


def test_rabbitmq_conf_templates_are_marked_not_misread() -> None:
    settings, problems = rabbitmq_conf.parse("{% if x %}\ncookie_x = {{ value }} # c\n{% endif %}\n", "r.conf.j2")
    assert problems == []
    assert [(s.key, s.templated) for s in settings] == [("cookie_x", True)]


def test_env_file_assignments_with_quotes_and_export() -> None:
    pairs, problems = envfile.parse("# c\nNODENAME=rabbit@a\nexport USE_LONGNAME='true'\nif x; then\n"
                                    'BAD="open\n', "rabbitmq-env.conf")
    assert pairs == [("NODENAME", "rabbit@a", 2), ("USE_LONGNAME", "true", 3)]
    assert [p.line for p in problems] == [5]


def test_yaml_mappings_know_the_line_of_each_key() -> None:
    (doc,) = load_all("services:\n  rabbit:\n    image: rabbitmq:4.1\n    hostname: r1\n")
    assert doc["services"]["rabbit"].lines == {"image": 3, "hostname": 4}


def test_compose_cookie_is_kept_as_traits_never_as_value(tmp_path: Path) -> None:
    paths = write(tmp_path, {"docker-compose.yml": """
        services:
          rabbit:
            image: rabbitmq:3.13.7
            environment:
              RABBITMQ_ERLANG_COOKIE: secretcookie
        """})
    (doc,) = load_config(paths)
    (env,) = doc.workloads[0].env
    assert env.value == REDACTED and env.cookie is not None and env.cookie.length == 12
    assert "secretcookie" not in doc.model_dump_json()


def test_compose_follows_mounted_rabbitmq_conf_relative_to_the_compose_file(tmp_path: Path) -> None:
    paths = write(tmp_path, {
        "deploy/docker-compose.yml": """
            services:
              rabbit:
                image: rabbitmq:3.13.7
                volumes:
                  - ./conf/rabbitmq.conf:/etc/rabbitmq/rabbitmq.conf:ro
                  - ./plugins:/etc/rabbitmq/enabled_plugins
            """,
        "deploy/conf/rabbitmq.conf": "loopback_users.guest = false\n",
        "deploy/plugins": "[rabbitmq_management].\n",
    })
    docs = load_config(paths[:1])
    assert [d.kind for d in docs] == ["compose", "rabbitmq.conf", "enabled_plugins"]
    assert docs[2].plugins == ["rabbitmq_management"]


def test_kubernetes_configmap_lines_point_into_the_manifest(tmp_path: Path) -> None:
    paths = write(tmp_path, {"k8s.yaml": """
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: rabbit
        data:
          rabbitmq.conf: |
            cluster_formation.peer_discovery_backend = k8s
            clustr_partition_handling = autoheal
        """})
    (doc,) = load_config(paths)
    assert doc.kind == "kubernetes"
    assert [(s.key, s.line) for s in doc.settings] == [
        ("cluster_formation.peer_discovery_backend", 7), ("clustr_partition_handling", 8)]


def test_check_config_takes_the_target_series_from_the_live_cluster(tmp_path: Path) -> None:
    from rabbitmq_preflight.configfiles.judge import with_config
    from tests.factories import facts, node

    paths = write(tmp_path, {"rabbitmq.conf": "heartbeat = 30\n"})
    judged = with_config(facts(node("rabbit@a", "4.0.5"), node("rabbit@b", "4.0.9")), tuple(paths), None, None)
    assert judged.config is not None
    live = (judged.config.live, judged.config.live_from)
    assert live == ("4.0", "the live cluster (rabbit@a 4.0.5, rabbit@b 4.0.9)")
    mixed = with_config(facts(node("rabbit@a", "3.13.7"), node("rabbit@b", "4.0.9")), tuple(paths), None, None)
    assert mixed.config is not None and mixed.config.live is None
