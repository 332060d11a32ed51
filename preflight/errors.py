"""One base for every problem the user can fix, translated once by the command line (exit 2).

Loading an inventory, a facts, definitions or baseline file, a bad option, an unknown rule id, a
state directory the daemon cannot use: each raises a `UsageError` subclass carrying one line per
problem. The CLI prints each as `preflight: error: <line>` and exits 2. Anything else that escapes is
a bug (exit 3). Probe failures are not exceptions at this level: they are typed outcomes in Facts.
"""

from __future__ import annotations

from collections.abc import Sequence


class UsageError(Exception):
    """A problem the user can fix; `lines` holds one self-contained line each (file and key first)."""

    def __init__(self, lines: str | Sequence[str]) -> None:
        self.lines: list[str] = [lines] if isinstance(lines, str) else list(lines)
        super().__init__("; ".join(self.lines))

    @property
    def reason(self) -> str:
        """All the lines as one, for a log record."""
        return "; ".join(self.lines)
