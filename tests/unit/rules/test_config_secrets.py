from __future__ import annotations

from pathlib import Path

from tests.config_files import fails

COMPOSE_WITH_COOKIE = """
    services:
      rabbit:
        image: rabbitmq:3.13.7
        hostname: rabbit
        environment:
          RABBITMQ_ERLANG_COOKIE: {cookie}
          RABBITMQ_DEFAULT_PASS: {password}
    """


def test_committed_weak_cookie_is_critical_with_sec001_reasons(tmp_path: Path) -> None:
    files = {"docker-compose.yml": COMPOSE_WITH_COOKIE.format(cookie="mycookie", password="${PASS}")}
    (f,) = fails(tmp_path, "CONF010", files)
    assert f.severity == "critical" and f.line == 6
    assert "fewer than 20" in f.message and "mycookie" not in repr(f)


def test_committed_strong_cookie_is_still_an_error(tmp_path: Path) -> None:
    files = {"docker-compose.yml": COMPOSE_WITH_COOKIE.format(cookie="Q7vX2mLp9RtZ4wKc8NbY3hJd", password="x")}
    (f,) = fails(tmp_path, "CONF010", files)
    assert f.severity is None and "fingerprint" in f.evidence


def test_cookie_from_a_variable_is_not_committed_but_is_in_the_environment(tmp_path: Path) -> None:
    files = {"docker-compose.yml": COMPOSE_WITH_COOKIE.format(cookie="${COOKIE}", password="x")}
    assert fails(tmp_path, "CONF010", files) == []
    (f,) = fails(tmp_path / "b", "CONF011", files)
    assert f.line == 6


def test_cookie_in_a_kubernetes_secret_is_committed(tmp_path: Path) -> None:
    files = {"secret.yaml": """
        apiVersion: v1
        kind: Secret
        metadata: {name: erlang}
        data:
          .erlang.cookie: c2VjcmV0   # "secret"
        """}
    (f,) = fails(tmp_path, "CONF010", files)
    assert f.line == 5 and f.severity == "critical"


def test_guest_password_in_env_and_in_rabbitmq_conf(tmp_path: Path) -> None:
    files = {"docker-compose.yml": COMPOSE_WITH_COOKIE.format(cookie="${C}", password="guest")}
    assert [f.line for f in fails(tmp_path, "CONF012", files)] == [7]
    assert [f.line for f in fails(tmp_path / "c", "CONF012", {"rabbitmq.conf": "default_pass = guest\n"})] == [1]
    assert fails(tmp_path / "d", "CONF012", {"rabbitmq.conf": "default_pass = Xy7\n"}) == []


def test_loopback_users_disabled_in_each_spelling(tmp_path: Path) -> None:
    assert len(fails(tmp_path / "a", "CONF013", {"rabbitmq.conf": "loopback_users.guest = false\n"})) == 1
    assert len(fails(tmp_path / "b", "CONF013", {"rabbitmq.conf": "loopback_users = none\n"})) == 1
    assert len(fails(tmp_path / "c", "CONF013", {"advanced.config": "[{rabbit, [{loopback_users, []}]}]."})) == 1
    assert fails(tmp_path / "d", "CONF013", {"rabbitmq.conf": "loopback_users.guest = true\n"}) == []
