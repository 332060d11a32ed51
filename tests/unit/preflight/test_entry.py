"""The console script answers `--version`, `rules` and `explain ID` without click, with the very
bytes and exit codes click's commands give; every other spelling is click's."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT


def _run(entry: str, *argv: str) -> tuple[int, str, str, bool]:
    """(exit code, stdout, stderr, whether click was imported) of one command through `entry`."""
    code = (
        "import atexit, os, sys\n"
        "atexit.register(lambda: os.write(2, b'CLICK=%d' % ('click' in sys.modules)))\n"
        f"from rabbitmq_preflight.{entry} import main\n"
        f"sys.argv = ['preflight', *{list(argv)!r}]\n"
        "main()\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    stderr, _, loaded = out.stderr.rpartition("CLICK=")
    return out.returncode, out.stdout, stderr, loaded == "1"


FAST = [("--version",), ("rules",), ("rules", "--format", "json"), ("rules", "-f", "text"),
        ("rules", "--format=json"), ("explain", "COOKIE001"), ("explain", "cookie-rejected")]
CLICK = [("explain", "NOPE999"), ("rules", "--format", "xml"), ("rules", "--help"), ("explain",),
         ("--version", "rules"), ("explain", "-x"), ()]


@pytest.mark.parametrize("argv", FAST)
def test_fast_spellings_print_what_click_prints_without_importing_click(argv: tuple[str, ...]) -> None:
    code, out, err, loaded = _run("entry", *argv)
    assert (code, out, err) == _run("cli", *argv)[:3]
    assert code == 0 and out and not loaded


@pytest.mark.parametrize("argv", CLICK)
def test_every_other_spelling_and_every_error_is_clicks(argv: tuple[str, ...]) -> None:
    code, out, err, loaded = _run("entry", *argv)
    assert (code, out, err) == _run("cli", *argv)[:3]
    assert loaded


def test_an_unknown_rule_is_one_line_and_exit_2() -> None:
    code, out, err, _ = _run("entry", "explain", "NOPE999")
    assert (code, out) == (2, "") and err == "preflight: error: unknown rule 'NOPE999' (see `preflight rules`)\n"
