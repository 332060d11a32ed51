"""The names scripts depend on, defined once: severities, families, check statuses, exit codes, formats.

Plain constants and `Literal` types only (no pydantic), so that the command line, rule modules and
renderers can share them without paying for a heavy import. DESIGN.md's interface contract lists
these names: extend them, never rename them.
"""

from __future__ import annotations

from typing import Final, Literal

Severity = Literal["info", "warning", "error", "critical"]
SEVERITIES: Final[tuple[Severity, ...]] = ("info", "warning", "error", "critical")

CheckStatus = Literal["pass", "fail", "unknown", "skipped"]

Family = Literal[
    "version", "hostname", "port", "cookie", "node-type", "ha-policy", "security", "resources", "cluster",
    "health",
    "membership", "config",
]
FAMILIES: Final[tuple[Family, ...]] = (
    "version", "hostname", "port", "cookie", "node-type", "ha-policy", "security", "resources", "cluster",
    "health",
    "membership", "config",
)

# Report formats, for `--format` and `--report FORMAT:PATH`.
FORMATS: Final[tuple[str, ...]] = ("text", "json", "sarif", "junit", "github", "html")

EXIT_OK: Final = 0  # nothing at or above --fail-on
EXIT_FINDINGS: Final = 1  # findings at or above --fail-on
EXIT_USAGE: Final = 2  # usage or configuration error: bad inventory, unknown rule id, unreadable file
EXIT_INTERNAL: Final = 3  # a bug: reported in one line, never a traceback


def severity_rank(severity: Severity) -> int:
    """Order severities: info < warning < error < critical."""
    return SEVERITIES.index(severity)
