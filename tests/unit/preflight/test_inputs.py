"""Input files a user (or an attacker) can point preflight at: FIFOs, devices, huge sparse files,
deep nesting, bad encodings. Each ends in one line and exit 2 — never a hang, never exit 3."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

import pytest

from rabbitmq_preflight.collect.cookie import inspect_file
from rabbitmq_preflight.inputs import (
    InputFileError,
    NotRegularFile,
    TooLarge,
    read_bounded,
    read_input_file,
    read_input_text,
)
from rabbitmq_preflight.service.drift import StateError, StateStore
from tests.conftest import run_preflight
from tests.factories import facts, node

BOUND = 60  # seconds: generous on a loaded machine; a hang is what this catches
GiB = 1 << 30
T = TypeVar("T")


def fifo(tmp_path: Path, name: str = "input.fifo") -> Path:
    path = tmp_path / name
    os.mkfifo(path)
    return path


def sparse(tmp_path: Path, size: int = GiB + 1, name: str = "sparse.bin") -> Path:
    path = tmp_path / name
    with path.open("wb") as f:
        f.truncate(size)
    return path


def bounded(fn: Callable[[], T]) -> T:
    """Run fn in a thread; fail (not hang) if it blocks."""
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:
            box["error"] = exc

    t = threading.Thread(target=work, daemon=True)
    t.start()
    t.join(10)
    assert not t.is_alive(), "blocked"
    if "error" in box:
        raise box["error"]
    return cast(T, box["value"])


# --- the reader -----------------------------------------------------------------------------------


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    path = fifo(tmp_path)
    with pytest.raises(NotRegularFile, match="is a FIFO, not a regular file"):
        bounded(lambda: read_bounded(path, 100))


def test_a_device_is_refused(tmp_path: Path) -> None:
    with pytest.raises(NotRegularFile, match="is a character device, not a regular file"):
        read_bounded("/dev/zero", 100)
    with pytest.raises(NotRegularFile, match="is a directory"):
        read_bounded(tmp_path, 100)


def test_a_large_sparse_file_is_refused_by_its_size(tmp_path: Path) -> None:
    with pytest.raises(TooLarge, match=f"{GiB + 1} bytes, larger than the 1 MiB limit"):
        read_bounded(sparse(tmp_path), 1 << 20)


def test_a_file_reporting_size_0_is_still_bounded() -> None:
    # /proc files say st_size 0 whatever they hold: the read itself stops at the limit
    with pytest.raises(TooLarge, match="larger than the 16 bytes limit"):
        read_bounded("/proc/self/maps", 16)


def test_a_symlink_to_a_regular_file_is_followed(tmp_path: Path) -> None:
    real = tmp_path / "real.toml"
    real.write_bytes(b"x" * 10)
    link = tmp_path / "link.toml"
    link.symlink_to(real)
    assert read_bounded(link, 10) == b"x" * 10


def test_one_line_names_file_what_and_why(tmp_path: Path) -> None:
    path = fifo(tmp_path)
    with pytest.raises(InputFileError) as exc:
        read_input_file(path, what="inventory", limit=10)
    assert exc.value.lines == [f"{path}: cannot read inventory: is a FIFO, not a regular file"]
    with pytest.raises(InputFileError) as missing:
        read_input_file(tmp_path / "nope", what="inventory", limit=10)
    assert missing.value.missing
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes(b"caf\xe9")
    with pytest.raises(InputFileError, match="is not UTF-8 text"):
        read_input_text(latin1, what="inventory", limit=10)


# --- every input of the command line: FIFO, /dev/zero, 1 GiB sparse file → exit 2, one line --------


def _good_facts(tmp_path: Path) -> Path:
    path = tmp_path / "good-facts.json"
    path.write_text(facts(node("rabbit@a")).model_dump_json(by_alias=True))
    return path


def _inventory_with_password_file(tmp_path: Path, password_file: Path | str) -> Path:
    inv = tmp_path / "inv.toml"
    inv.write_text(f'[[nodes]]\nname = "rabbit@a"\n\n[management]\nuser = "u"\npassword_file = "{password_file}"\n')
    return inv


CASES: dict[str, tuple[Callable[[Path, str], list[str]], str]] = {
    # input: (argv given the hostile path, what the line says it should have been)
    "inventory": (lambda tmp, p: ["check", "--inventory", p], "cannot read inventory"),
    "facts": (lambda tmp, p: ["check", "--facts", p], "cannot read facts file"),
    "definitions": (lambda tmp, p: ["check", "--definitions", p], "cannot read definitions"),
    "baseline": (lambda tmp, p: ["check", "--facts", str(_good_facts(tmp)), "--baseline", p],
                 "cannot read baseline"),
    "password": (lambda tmp, p: ["check", "--inventory", str(_inventory_with_password_file(tmp, p))],
                 "management.password_file: cannot read"),
}
KINDS: dict[str, tuple[Callable[[Path], str], str]] = {
    "fifo": (lambda tmp: str(fifo(tmp)), "is a FIFO, not a regular file"),
    "dev-zero": (lambda tmp: "/dev/zero", "is a character device, not a regular file"),
    "sparse": (lambda tmp: str(sparse(tmp)), f"{GiB + 1} bytes, larger than the"),
}


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("what", list(CASES))
def test_hostile_input_file_is_one_line_exit_2(tmp_path: Path, what: str, kind: str) -> None:
    argv, expected_what = CASES[what]
    make, expected_why = KINDS[kind]
    hostile = make(tmp_path)
    result = run_preflight(*argv(tmp_path, hostile), timeout=BOUND)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("preflight: error: "), result.stderr
    assert hostile in lines[0] and expected_what in lines[0] and expected_why in lines[0], lines[0]


# --- the cookie file: a typed outcome in the facts, never an exception, never a hang ---------------


def test_cookie_fifo_is_recorded_as_not_regular(tmp_path: Path) -> None:
    path = fifo(tmp_path, ".erlang.cookie")
    source, cookie = bounded(lambda: inspect_file("cookie_file", path, None))
    assert source.present and source.regular is False and cookie is None


def test_cookie_swapped_for_a_fifo_after_stat_does_not_block(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / ".erlang.cookie"
    path.write_bytes(b"COOKIECOOKIECOOKIE")
    real_stat = Path.stat

    def stat_then_swap(self: Path, **kwargs: bool) -> os.stat_result:
        st = real_stat(self, **kwargs)
        if self == path:
            path.unlink()
            os.mkfifo(path)
        return st

    monkeypatch.setattr(Path, "stat", stat_then_swap)
    source, cookie = bounded(lambda: inspect_file("cookie_file", path, None))
    assert source.regular is False and cookie is None


def test_cookie_device_and_sparse_file(tmp_path: Path) -> None:
    source, cookie = inspect_file("cookie_file", Path("/dev/zero"), None)
    assert source.regular is False and cookie is None
    huge = sparse(tmp_path, name=".erlang.cookie")
    source, cookie = inspect_file("cookie_file", huge, None)
    assert source.content_problem == "too_long" and cookie is None and source.size == GiB + 1


# --- the daemon's state file ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["fifo", "sparse"])
def test_state_file_that_is_not_a_state_is_a_state_error(tmp_path: Path, kind: str) -> None:
    store = StateStore(tmp_path)
    if kind == "fifo":
        os.mkfifo(store.path)
    else:
        with store.path.open("wb") as f:
            f.truncate(GiB + 1)
    with pytest.raises(StateError, match=r"cannot read state .*(FIFO|larger than)"):
        bounded(store.load)


# --- deep nesting, bad encodings, the C locale ----------------------------------------------------


def test_deeply_nested_inventory_is_exit_2(tmp_path: Path) -> None:
    inv = tmp_path / "deep.toml"
    inv.write_text("x = " + "[" * 100_000 + "]" * 100_000 + "\n")
    result = run_preflight("check", "--inventory", str(inv), timeout=BOUND)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [f"preflight: error: {inv}: invalid TOML: nested too deeply"]


def test_deeply_nested_inline_table_inventory_is_exit_2(tmp_path: Path) -> None:
    inv = tmp_path / "deep.toml"
    inv.write_text("x = " + "{a = " * 50_000 + "1" + "}" * 50_000 + "\n")
    result = run_preflight("check", "--inventory", str(inv), timeout=BOUND)
    assert result.returncode == 2 and "nested too deeply" in result.stderr, result.stderr


def test_deeply_nested_baseline_is_exit_2(tmp_path: Path) -> None:
    baseline = tmp_path / "baseline.json"
    baseline.write_text("[" * 100_000 + "]" * 100_000)
    result = run_preflight("check", "--facts", str(_good_facts(tmp_path)), "--baseline", str(baseline),
                           timeout=BOUND)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        f"preflight: error: {baseline}: not a preflight baseline: JSON nested too deeply"
    ]


def test_deeply_nested_facts_file_is_exit_2(tmp_path: Path) -> None:
    deep = tmp_path / "facts.json"
    deep.write_text('{"schema": ' + "[" * 100_000 + "]" * 100_000 + "}")
    result = run_preflight("check", "--facts", str(deep), timeout=BOUND)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"preflight: error: {deep}: not a preflight facts file")


def test_deeply_nested_definitions_is_exit_2(tmp_path: Path) -> None:
    deep = tmp_path / "defs.json"
    deep.write_text('{"policies": ' + "[" * 100_000 + "]" * 100_000 + "}")
    result = run_preflight("check", "--definitions", str(deep), timeout=BOUND)
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.splitlines()) == 1 and str(deep) in result.stderr


def test_non_utf8_password_file_is_one_line_without_the_secret(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_bytes(b"s3cr\xe9t-latin1\n")
    inv = _inventory_with_password_file(tmp_path, secret)
    result = run_preflight("check", "--inventory", str(inv), timeout=BOUND)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        f"preflight: error: {inv}: management.password_file: {secret} is not UTF-8 text (re-save it as UTF-8)"
    ]
    assert "s3cr" not in result.stderr


C_LOCALE = {"LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0", "PYTHONIOENCODING": ""}


@pytest.mark.parametrize("fmt", ["text", "json", "sarif"])
def test_c_locale_prints_reports_instead_of_crashing(tmp_path: Path, fmt: str) -> None:
    # Without Python's UTF-8 mode, LC_ALL=C makes stdout ASCII; reports hold "—" and peers' names
    facts_file = tmp_path / "facts.json"
    facts_file.write_text(facts(node("rabbit@a"), node("rabbit@b")).model_dump_json(by_alias=True))
    result = run_preflight("check", "--facts", str(facts_file), "--format", fmt, env=C_LOCALE, timeout=BOUND)
    assert result.returncode == 1, result.stderr
    assert result.stderr == "" and result.stdout
    if fmt != "text":
        import json

        json.loads(result.stdout)


def test_c_locale_with_non_ascii_paths_is_one_line(tmp_path: Path) -> None:
    where = tmp_path / "répertoire"
    where.mkdir()
    missing = run_preflight("check", "--inventory", str(where / "absent-é.toml"), env=C_LOCALE, timeout=BOUND)
    assert missing.returncode == 2 and len(missing.stderr.splitlines()) == 1, missing.stderr
    assert "cannot read inventory" in missing.stderr
