"""Prints the fault matrix's table at the end of a session that ran it (whatever passed or failed)."""

from __future__ import annotations

import pytest

from tests.integration.fault_cases import ROWS, render_table


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if ROWS:
        terminalreporter.section("fault matrix")
        terminalreporter.write_line(render_table(ROWS))
