"""Inventory loading: every problem is one line naming the file, the key and the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from rabbitmq_preflight.inventory import InventoryError, inventory_from_names, load_inventory

GOOD = """
[cluster]
name = "prod"
probe_timeout = 1.5

[management]
user = "monitoring"
password_file = "pw"

[[nodes]]
name = "rabbit@rabbit1"
address = "192.0.2.1"
type = "disc"

[[nodes]]
name = "rabbit@rabbit2"
amqp_port = 5673

[expect]
rabbitmq = "3.13"
replicated = ["^orders\\\\."]
"""


def write(tmp_path: Path, text: str, password: str | None = "s3cret-pw") -> Path:
    if password is not None:
        (tmp_path / "pw").write_text(password + "\n")
    path = tmp_path / "inventory.toml"
    path.write_text(text)
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(InventoryError) as exc:
        load_inventory(write(tmp_path, text))
    return exc.value.problems


def test_good_inventory_loads_with_defaults_and_reads_the_password_file(tmp_path: Path) -> None:
    inv = load_inventory(write(tmp_path, GOOD))
    assert inv.cluster.name == "prod" and inv.cluster.deadline == 15.0
    assert [n.name for n in inv.nodes] == ["rabbit@rabbit1", "rabbit@rabbit2"]
    assert inv.nodes[0].target == "192.0.2.1" and inv.nodes[1].target == "rabbit2"
    assert inv.nodes[1].amqp_port == 5673
    assert inv.management is not None and inv.management.password is not None
    assert inv.management.password.get_secret_value() == "s3cret-pw"
    assert "s3cret-pw" not in repr(inv) and "s3cret-pw" not in inv.model_dump_json()


def test_unknown_key_is_named_with_its_path(tmp_path: Path) -> None:
    assert problems(tmp_path, GOOD.replace('type = "disc"', 'typo = "disc"')) == [
        f"{tmp_path / 'inventory.toml'}: nodes[0].typo: unknown key"
    ]


def test_node_name_without_at_is_explained(tmp_path: Path) -> None:
    [line] = problems(tmp_path, GOOD.replace('"rabbit@rabbit2"', '"rabbit2"'))
    assert "nodes[1].name" in line and "prefix@host" in line


def test_port_out_of_range_and_wrong_type_are_each_one_line(tmp_path: Path) -> None:
    text = GOOD.replace("amqp_port = 5673", "amqp_port = 70000").replace("probe_timeout = 1.5", 'probe_timeout = "x"')
    lines = problems(tmp_path, text)
    assert len(lines) == 2
    assert any("nodes[1].amqp_port" in line and "65535" in line for line in lines)
    assert any("cluster.probe_timeout" in line for line in lines)


def test_duplicate_node_names_are_rejected(tmp_path: Path) -> None:
    [line] = problems(tmp_path, GOOD.replace('"rabbit@rabbit2"', '"rabbit@rabbit1"'))
    assert "listed twice" in line


def test_invalid_toml_points_at_the_line(tmp_path: Path) -> None:
    [line] = problems(tmp_path, "[cluster\nname=1")
    assert "invalid TOML" in line and "line 1" in line


def test_inline_password_is_refused(tmp_path: Path) -> None:
    [line] = problems(tmp_path, GOOD.replace('password_file = "pw"', 'password = "hunter2"'))
    assert "management.password" in line and "hunter2" not in line


def test_unreadable_password_file_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(InventoryError) as exc:
        load_inventory(write(tmp_path, GOOD, password=None))
    assert "management.password_file: cannot read" in exc.value.problems[0]


def test_password_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFLIGHT_MGMT_PASSWORD", "from-env")
    inv = load_inventory(write(tmp_path, GOOD.replace('password_file = "pw"\n', "")))
    assert inv.management is not None and inv.management.password is not None
    assert inv.management.password.get_secret_value() == "from-env"


def test_bad_expect_pattern_is_reported(tmp_path: Path) -> None:
    [line] = problems(tmp_path, GOOD.replace('replicated = ["^orders\\\\."]', 'replicated = ["(unclosed"]'))
    assert "expect.replicated" in line and "not a valid regular expression" in line


def test_names_on_the_command_line_form_an_inventory() -> None:
    inv = inventory_from_names(["rabbit@a", "rabbit@b"])
    assert [n.name for n in inv.nodes] == ["rabbit@a", "rabbit@b"] and inv.management is None


def test_command_line_names_extend_a_loaded_inventory(tmp_path: Path) -> None:
    inv = inventory_from_names(["rabbit@rabbit1", "rabbit@rabbit9"], load_inventory(write(tmp_path, GOOD)))
    assert [n.name for n in inv.nodes] == ["rabbit@rabbit1", "rabbit@rabbit2", "rabbit@rabbit9"]
    assert inv.management is not None and inv.management.password is not None


def test_command_line_names_use_management_credentials_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFLIGHT_MGMT_USER", "monitoring")
    monkeypatch.setenv("PREFLIGHT_MGMT_PASSWORD", "env-secret")
    inv = inventory_from_names(["rabbit@a"])
    assert inv.management is not None and inv.management.user == "monitoring"
    assert inv.management.password is not None and inv.management.password.get_secret_value() == "env-secret"


def test_management_user_without_any_password_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFLIGHT_MGMT_USER", "monitoring")
    monkeypatch.delenv("PREFLIGHT_MGMT_PASSWORD", raising=False)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    with pytest.raises(InventoryError, match="no password"):
        inventory_from_names(["rabbit@a"])
