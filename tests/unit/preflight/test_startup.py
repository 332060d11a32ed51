"""`preflight rules` and `explain` start fast: the rule modules import Facts only for annotations."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT

HEAVY = ("pydantic", "httpx", "dns", "apscheduler", "structlog", "psutil", "asyncio", "rabbitmq_preflight.facts")


def _heavy_after(*argv: str) -> str:
    code = (
        "import sys; from rabbitmq_preflight.cli import main\n"
        f"sys.argv=['preflight', *{list(argv)!r}]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        f"print('HEAVY', sorted({{m.split('.')[0] if m != 'rabbitmq_preflight.facts' else m for m in sys.modules}}"
        f" & set({HEAVY!r})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    return out.stdout


def test_rules_lists_every_rule_without_pydantic() -> None:
    out = _heavy_after("rules")
    assert "COOKIE001" in out and "HEAVY []" in out, out[-300:]


def test_explain_without_pydantic() -> None:
    out = _heavy_after("explain", "VER001")
    assert "HEAVY []" in out, out[-300:]


def test_rules_and_explain_fast_path_import_no_rule_module() -> None:
    """The console script answers `rules` and `explain ID` from the rule index: no family module,
    no HA resolver, no config schema is imported to list them (the 50 ms start-up budget)."""
    code = (
        "import io, contextlib, sys\n"
        "from rabbitmq_preflight.entry import main\n"
        "for argv in (['rules'], ['explain', 'HA001']):\n"
        "    sys.argv = ['preflight', *argv]\n"
        "    with contextlib.redirect_stdout(io.StringIO()):\n"
        "        try:\n            main()\n        except SystemExit:\n            pass\n"
        "print('LOADED', sorted(m for m in sys.modules if m.startswith(('rabbitmq_preflight.rules', "
        "'rabbitmq_preflight.policy', 'rabbitmq_preflight.configfiles', 'click', 'tempfile'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert "LOADED []" in out.stdout, out.stdout[-300:] + out.stderr[-300:]
