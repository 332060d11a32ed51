"""When the daemon runs: `--interval 5m` or `--cron "*/5 * * * *"`, with optional jitter.

Kept apart from the daemon loop because crontab syntax has a trap in APScheduler 3: its day-of-week
numbers start at Monday = 0, while crontab's start at Sunday = 0. An operator who writes
`0 9 * * 1-5` means Monday to Friday, so numeric weekdays are rewritten to names before APScheduler
sees them.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

_CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")  # crontab: 0 and 7 are Sunday
MIN_INTERVAL = 0.1  # back-to-back runs for benchmarks; max_instances=1 still prevents overlap
DEFAULT_INTERVAL = 300.0


def crontab_weekdays(field: str) -> str:
    """Rewrite a crontab day-of-week field (0/7 = Sunday) into APScheduler's weekday names."""
    parts = []
    for item in field.split(","):
        base, _, step = item.partition("/")
        if item == "*" or not re.fullmatch(r"\*|\d+(-\d+)?", base):
            parts.append(item)  # `*` and day names mean the same in both
            continue
        lo, _, hi = ("0", "", "6") if base == "*" else base.partition("-")  # `*/2` counts from Sunday
        start, stop = int(lo), int(hi or lo)
        if not 0 <= start <= stop <= 7:
            raise ValueError(f"day-of-week {item!r}: expected 0-7 (0 and 7 are Sunday)")
        if step and (not step.isdigit() or int(step) < 1):
            raise ValueError(f"day-of-week {item!r}: the step must be a whole number of at least 1")
        parts.extend(_CRON_DAYS[n] for n in range(start, stop + 1, int(step or 1)))
    return ",".join(dict.fromkeys(parts))


@dataclass(frozen=True)
class Schedule:
    """Either an interval (seconds) or a crontab expression; jitter in seconds (0 = none)."""

    interval: float | None = None
    cron: str | None = None
    jitter: float = 0.0

    @classmethod
    def parse(cls, interval: float | None, cron: str | None, jitter: float | None) -> Schedule:
        """Validate the options up front, so a typo is a usage error rather than a dead daemon."""
        if interval is not None and cron is not None:
            raise ValueError("give either --interval or --cron, not both")
        spread = jitter or 0.0
        if cron is not None:
            schedule = cls(cron=" ".join(cron.split()), jitter=spread)
            schedule.nominal_interval()  # raises ValueError on a bad or never-firing expression
            return schedule
        seconds = interval if interval is not None else DEFAULT_INTERVAL
        if seconds < MIN_INTERVAL:
            raise ValueError(f"--interval {seconds:g}s: must be at least {MIN_INTERVAL:g}s")
        return cls(interval=seconds, jitter=spread)

    def trigger(self, *, with_jitter: bool = True) -> IntervalTrigger | CronTrigger:
        jitter = (self.jitter or None) if with_jitter else None
        if self.interval is not None:
            return IntervalTrigger(seconds=self.interval, timezone=dt.UTC, jitter=jitter)
        assert self.cron is not None
        fields = self.cron.split()
        if len(fields) != 5:
            raise ValueError(f"--cron {self.cron!r}: expected 5 fields (minute hour day month weekday)")
        minute, hour, day, month, weekday = fields
        try:
            return CronTrigger(minute=minute, hour=hour, day=day, month=month,
                               day_of_week=crontab_weekdays(weekday), timezone=dt.UTC, jitter=jitter)
        except ValueError as exc:
            raise ValueError(f"--cron {self.cron!r}: {exc}") from None

    def misfire_grace(self) -> int:
        """A run that starts late is still worth running until the next one is due."""
        return max(1, int(self.nominal_interval()))

    def nominal_interval(self, after: dt.datetime | None = None) -> float:
        """Seconds between two fires (for cron: the two fires following `after`)."""
        if self.interval is not None:
            return self.interval
        first, second = self._two_fires(after or dt.datetime.now(dt.UTC))
        return (second - first).total_seconds()

    def stale_after(self, finished: dt.datetime) -> dt.datetime:
        """When a run that finished at `finished` is too old: two scheduled fires later, plus jitter."""
        slack = dt.timedelta(seconds=self.jitter)
        if self.interval is not None:
            return finished + dt.timedelta(seconds=2 * self.interval) + slack
        return self._two_fires(finished)[1] + slack

    def _two_fires(self, after: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
        trig = self.trigger(with_jitter=False)
        first = trig.get_next_fire_time(None, after)
        second = None if first is None else trig.get_next_fire_time(first, first + dt.timedelta(seconds=1))
        if first is None or second is None:
            raise ValueError(f"--cron {self.cron!r}: never fires")
        return first, second

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"interval_s": self.interval} if self.interval is not None else {"cron": self.cron}
        out["jitter_s"] = self.jitter
        return out
