from __future__ import annotations

from pathlib import Path

from rabbitmq_preflight.rule import Fail, Pass, Skip
from tests.config_files import fails, results


def test_unparseable_rabbitmq_conf_line_is_an_error_on_that_line(tmp_path: Path) -> None:
    (f,) = fails(tmp_path, "CONF001", {"rabbitmq.conf": "a.b = 1\nnot a setting\n"})
    assert (f.line, f.file) == (2, str(tmp_path / "rabbitmq.conf"))
    assert f.severity is None  # the rule's own: error


def test_unparseable_template_is_only_a_warning(tmp_path: Path) -> None:
    (f,) = fails(tmp_path, "CONF001", {"advanced.config.j2": "[{rabbit, [{% if x %}{y, 1}]}]."})
    assert f.severity == "warning"


def test_misspelt_key_names_the_key_it_resembles(tmp_path: Path) -> None:
    (f,) = fails(tmp_path, "CONF002", {"rabbitmq.conf": "cluster_partition_handlng = autoheal\n"}, target="3.13")
    assert f.line == 1
    assert f.remediation == "replace line 1 with `cluster_partition_handling = autoheal`"


def test_key_removed_in_4_0_is_unknown_for_4_x_and_fine_for_3_13(tmp_path: Path) -> None:
    conf = {"rabbitmq.conf": "cluster_formation.randomized_startup_delay_range.min = 0\n"}
    (f,) = fails(tmp_path, "CONF002", conf, target="4.0")
    assert "removed after 3.13" in f.message and f.evidence["table"] == {"4.0": "v4.0.9"}
    assert fails(tmp_path / "b", "CONF002", conf, target="3.13") == []


def test_without_a_target_only_keys_no_version_knows_are_reported(tmp_path: Path) -> None:
    conf = {"rabbitmq.conf": "cluster_formation.randomized_startup_delay_range.min = 0\nno_such.key = 1\n"}
    assert [f.line for f in fails(tmp_path, "CONF002", conf)] == [2]


def test_image_tag_sets_the_target_of_a_mounted_conf(tmp_path: Path) -> None:
    files = {"docker-compose.yml": """
        services:
          rabbit:
            image: rabbitmq:4.1.2-management
            hostname: rabbit
            volumes:
              - ./rabbitmq.conf:/etc/rabbitmq/rabbitmq.conf
        """, "rabbitmq.conf": "cluster_formation.randomized_startup_delay_range.max = 1\n"}
    (f,) = fails(tmp_path, "CONF002", files)
    assert "image tag 4.1.2-management" in f.message


def test_plugin_key_without_the_plugin_enabled_is_a_warning_that_it_does_nothing(tmp_path: Path) -> None:
    files = {"etc/rabbitmq.conf": "management.tcp.port = 15672\n", "etc/enabled_plugins": "[rabbitmq_shovel]."}
    (f,) = fails(tmp_path, "CONF003", files)
    assert "has no effect" in f.message
    assert fails(tmp_path / "b", "CONF002", files) == []  # the key is known: the node boots
    assert f.evidence["plugin"] == "rabbitmq_management"
    assert (f.remediation or "").startswith("add rabbitmq_management to enabled_plugins")


def test_plugin_key_with_a_plugin_that_depends_on_it_is_fine(tmp_path: Path) -> None:
    files = {"etc/rabbitmq.conf": "management_agent.disable_metrics_collector = true\n",
             "etc/enabled_plugins": "[rabbitmq_management]."}
    assert fails(tmp_path, "CONF003", files) == []
    assert any(isinstance(r, Pass) for r in results(tmp_path / "x", "CONF003", files))


def test_plugin_keys_are_not_judged_when_enabled_plugins_is_unknown(tmp_path: Path) -> None:
    rs = results(tmp_path, "CONF003", {"rabbitmq.conf": "management.tcp.port = 15672\n"})
    assert rs and all(isinstance(r, Skip) for r in rs)


def test_enum_value_outside_the_schema_is_a_bad_value(tmp_path: Path) -> None:
    (f,) = fails(tmp_path, "CONF004", {"rabbitmq.conf": "cluster_partition_handling = pause-minority\n"})
    assert "pause_minority" in f.message and f.line == 1


def test_integer_key_with_words_is_a_bad_value_and_a_number_is_not(tmp_path: Path) -> None:
    assert len(fails(tmp_path, "CONF004", {"rabbitmq.conf": "heartbeat = five\n"})) == 1
    assert fails(tmp_path / "ok", "CONF004", {"rabbitmq.conf": "heartbeat = 60\n"}) == []


def test_live_cluster_series_judges_a_file_without_image_tag_or_flag(tmp_path: Path) -> None:
    from rabbitmq_preflight.configfiles.judge import with_config
    from rabbitmq_preflight.rules import rule_by_id
    from tests.config_files import write
    from tests.factories import facts, node

    paths = write(tmp_path, {"rabbitmq.conf": "cluster_formation.randomized_startup_delay_range.min = 0\n"})
    judged = with_config(facts(node("rabbit@a", "4.1.2")), tuple(paths), None, None)
    (f,) = [r for r in rule_by_id("CONF002")(judged) if isinstance(r, Fail)]
    assert "the live cluster (rabbit@a 4.1.2)" in f.message
