"""RabbitMQ version numbers, as every part of the tool compares them (rules, coverage, reports)."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Version:
    """A version as numbers (ordered by them) and as written."""

    parts: tuple[int, ...]
    text: str

    @property
    def series(self) -> str:
        return ".".join(str(p) for p in self.parts[:2])

    @classmethod
    def parse(cls, text: str) -> Version | None:
        m = re.match(r"^(\d+)\.(\d+)(?:\.(\d+))?", text.strip())
        if not m:
            return None
        return cls(tuple(int(g) for g in m.groups() if g is not None), text.strip())


def at_least(version: Version | None, *parts: int) -> bool:
    """`version` is known and not older than `parts` (`at_least(v, 4, 0)`: a 4.x release or later)."""
    return version is not None and version.parts[: len(parts)] >= parts
