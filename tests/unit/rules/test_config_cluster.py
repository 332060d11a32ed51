from __future__ import annotations

from pathlib import Path

from tests.config_files import fails

THREE_NODES = """
    services:
      r1: {{image: "{image}", hostname: r1, volumes: ["./r1.conf:/etc/rabbitmq/rabbitmq.conf"]}}
      r2: {{image: "{image}", hostname: r2, volumes: ["./r2.conf:/etc/rabbitmq/rabbitmq.conf"]}}
      r3: {{image: "{image}", hostname: r3, volumes: ["./r3.conf:/etc/rabbitmq/rabbitmq.conf"]}}
    """


def _cluster(r1: str, r2: str, r3: str, image: str = "rabbitmq:3.13.7") -> dict[str, str]:
    return {"docker-compose.yml": THREE_NODES.format(image=image), "r1.conf": r1, "r2.conf": r2, "r3.conf": r3}


def test_unknown_peer_discovery_backend(tmp_path: Path) -> None:
    (f,) = fails(tmp_path, "CONF030", {"rabbitmq.conf": "cluster_formation.peer_discovery_backend = kubernets\n"})
    assert f.line == 1
    full_name = "cluster_formation.peer_discovery_backend = rabbit_peer_discovery_classic_config\n"
    assert fails(tmp_path / "ok", "CONF030", {"rabbitmq.conf": full_name}) == []


def test_k8s_backend_without_its_plugin(tmp_path: Path) -> None:
    files = {"etc/rabbitmq.conf": "cluster_formation.peer_discovery_backend = k8s\n",
             "etc/enabled_plugins": "[rabbitmq_management]."}
    (f,) = fails(tmp_path, "CONF030", files)
    assert "rabbitmq_peer_discovery_k8s" in f.message


def test_classic_config_lists_that_differ_and_a_name_without_host(tmp_path: Path) -> None:
    base = "cluster_formation.peer_discovery_backend = classic_config\n"
    files = _cluster(base + "cluster_formation.classic_config.nodes.1 = rabbit@r1\n",
                     base + "cluster_formation.classic_config.nodes.1 = rabbit@r1\n",
                     base + "cluster_formation.classic_config.nodes.1 = r1\n")
    found = fails(tmp_path, "CONF031", files)
    assert sorted(f.message.split(": ", 1)[1][:30] for f in found) == [
        "classic_config lists differ be", "classic_config node `r1` is no"]


def test_three_nodes_with_no_discovery_boot_standalone(tmp_path: Path) -> None:
    found = fails(tmp_path, "CONF032", _cluster("a.b = 1\n", "a.b = 1\n", "a.b = 1\n"))
    assert sorted(f.node or "" for f in found) == ["r1", "r2", "r3"]
    joined = _cluster(*["cluster_formation.peer_discovery_backend = classic_config\n"] * 3)
    assert fails(tmp_path / "j", "CONF032", joined) == []


def test_partition_handling_missing_on_3x_but_not_on_4x(tmp_path: Path) -> None:
    conf = "cluster_formation.peer_discovery_backend = classic_config\n"
    assert len(fails(tmp_path, "CONF040", _cluster(conf, conf, conf))) == 3
    assert fails(tmp_path / "4", "CONF040", _cluster(conf, conf, conf, image="rabbitmq:4.1.4")) == []
    good = conf + "cluster_partition_handling = pause_minority\n"
    assert fails(tmp_path / "g", "CONF040", _cluster(good, good, good)) == []


def test_net_ticktime_differs_between_nodes(tmp_path: Path) -> None:
    files = _cluster("net_ticktime = 60\n", "net_ticktime = 60\n", "net_ticktime = 120\n")
    (f,) = fails(tmp_path, "CONF041", files)
    assert "r3=120" in f.message


def test_floating_tags_and_pinned_ones(tmp_path: Path) -> None:
    files = {"docker-compose.yml": """
        services:
          a: {image: rabbitmq, hostname: a}
          b: {image: "rabbitmq:3-management", hostname: b}
          c: {image: "rabbitmq:latest", hostname: c}
          d: {image: "rabbitmq:3.13.7-management", hostname: d}
          e: {image: "rabbitmq:4.1", hostname: e}
        """}
    assert sorted(f.node or "" for f in fails(tmp_path, "CONF042", files)) == ["a", "b", "c"]


def test_end_of_life_series(tmp_path: Path) -> None:
    files = {"docker-compose.yml": """
        services:
          old: {image: "rabbitmq:3.8.9-management", hostname: old}
          new: {image: "rabbitmq:3.13.7", hostname: new}
        """}
    (f,) = fails(tmp_path, "CONF043", files)
    assert (f.node, f.line) == ("old", 2)


def test_bitnami_variables_on_the_official_image(tmp_path: Path) -> None:
    files = {"docker-compose.yml": """
        services:
          a:
            image: rabbitmq:3.13.7
            hostname: a
            environment:
              - RABBITMQ_NODE_TYPE=stats
              - RABBITMQ_NODENAME=rabbit@a
        """}
    (f,) = fails(tmp_path, "CONF050", files)
    assert f.line == 6 and "bitnami" in f.message


def test_volume_specs_compose_refuses(tmp_path: Path) -> None:
    files = {"docker-compose.yml": """
        services:
          a:
            image: rabbitmq:3.13.7
            volumes:
              - rabbit-data:/var/lib/rabbitmq
              - ./conf:etc/rabbitmq
              - ./x:/y:rw:extra
              - ./z:/z:readonly
        """}
    assert [f.line for f in fails(tmp_path, "CONF051", files)] == [5, 6, 7, 8]


def test_different_cookies_across_services_are_named_without_the_values(tmp_path: Path) -> None:
    files = {"docker-compose.yml": """
        services:
          a: {image: "rabbitmq:3.13.7", hostname: a, environment: {RABBITMQ_ERLANG_COOKIE: Q7vX2mLp9RtZ4wKc8NbY}}
          b: {image: "rabbitmq:3.13.7", hostname: b, environment: {RABBITMQ_ERLANG_COOKIE: Z9vX2mLp9RtZ4wKc8NbY}}
        """}
    (f,) = fails(tmp_path, "CONF041", files)
    assert "Erlang cookie differs" in f.message and "Q7vX" not in f.message


def test_classic_config_node_missing_from_the_inventory(tmp_path: Path) -> None:
    from rabbitmq_preflight.configfiles.judge import with_config
    from rabbitmq_preflight.inventory import inventory_from_names
    from rabbitmq_preflight.rule import Fail
    from rabbitmq_preflight.rules import rule_by_id
    from tests.config_files import write

    paths = write(tmp_path, {"rabbitmq.conf": "cluster_formation.classic_config.nodes.1 = rabbit@rabbit1\n"
                                              "cluster_formation.classic_config.nodes.2 = rabbit@rabit2\n"})
    inventory = inventory_from_names(["rabbit@rabbit1", "rabbit@rabbit2"])
    judged = with_config(None, tuple(paths), None, None, inventory)
    (f,) = [r for r in rule_by_id("CONF031")(judged) if isinstance(r, Fail)]
    assert f.line == 2 and "rabbit@rabit2" in f.message
