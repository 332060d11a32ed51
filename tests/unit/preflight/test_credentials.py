"""systemd credentials ($CREDENTIALS_DIRECTORY) fill in the cookie and password the inventory omits."""

from __future__ import annotations

from pathlib import Path

import pytest

from rabbitmq_preflight.inventory import inventory_from_names, load_inventory

BASE = '[cluster]\nname = "c"\n{cookie}\n[management]\nuser = "monitoring"\n{password}\n[[nodes]]\nname = "rabbit@a"\n'


@pytest.fixture
def creds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "creds"
    directory.mkdir()
    (directory / "erlang-cookie").write_text("CREDCOOKIE")
    (directory / "mgmt-password").write_text("from-credential\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(directory))
    monkeypatch.setenv("PREFLIGHT_MGMT_PASSWORD", "from-env")
    return directory


def write(tmp_path: Path, cookie: str = "", password: str = "") -> Path:
    path = tmp_path / "inventory.toml"
    path.write_text(BASE.format(cookie=cookie, password=password))
    return path


def secret(path: Path) -> str:
    inv = load_inventory(path)
    assert inv.management is not None and inv.management.password is not None
    return inv.management.password.get_secret_value()


def test_credentials_fill_in_what_the_inventory_omits(tmp_path: Path, creds: Path) -> None:
    inv = load_inventory(write(tmp_path))
    assert inv.cluster.cookie_file == creds / "erlang-cookie"
    assert secret(write(tmp_path)) == "from-credential"


def test_files_named_in_the_inventory_win_over_credentials(tmp_path: Path, creds: Path) -> None:
    (tmp_path / "pw").write_text("from-file\n")
    path = write(tmp_path, cookie='cookie_file = "/etc/mine/cookie"', password='password_file = "pw"')
    assert load_inventory(path).cluster.cookie_file == Path("/etc/mine/cookie")
    assert secret(path) == "from-file"


def test_credential_wins_over_the_environment_variable(tmp_path: Path, creds: Path) -> None:
    assert secret(write(tmp_path)) == "from-credential"
    (creds / "mgmt-password").unlink()
    assert secret(write(tmp_path)) == "from-env"


def test_without_a_credentials_directory_nothing_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    monkeypatch.setenv("PREFLIGHT_MGMT_PASSWORD", "from-env")
    inv = load_inventory(write(tmp_path))
    assert inv.cluster.cookie_file is None
    assert secret(write(tmp_path)) == "from-env"


def test_node_names_on_the_command_line_also_get_the_cookie_credential(creds: Path) -> None:
    assert inventory_from_names(["rabbit@a"]).cluster.cookie_file == creds / "erlang-cookie"


def test_a_directory_where_the_credential_should_be_is_not_used(tmp_path: Path, creds: Path) -> None:
    (creds / "mgmt-password").unlink()
    (creds / "mgmt-password").mkdir()  # exists but cannot be read as a file → not a credential
    assert secret(write(tmp_path)) == "from-env"
