"""The one `collect → rules → report` path, shared by `preflight check` and `preflight daemon`.

Both front doors must judge a cluster the same way; the daemon only adds scheduling, logging and
drift around this call. Keeping it here (not in the CLI) lets `service/` import it without pulling
click, and keeps waiver validation in the same place for both.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from preflight.engine import Rule, run_rules, validate_waivers
from preflight.facts import Facts
from preflight.inventory import Inventory, InventoryError, load_inventory
from preflight.report import Report, Severity


@dataclass(frozen=True)
class CheckRun:
    """What one check produced: the facts it judged and the report."""

    facts: Facts
    report: Report


def ensure_valid_waivers(inv: Inventory) -> None:
    """Reject waivers naming unknown rules up front: a typo must not silently waive nothing."""
    problems = validate_waivers(list(inv.waivers), inv.source)
    if problems:
        raise InventoryError(problems)


def load_checked_inventory(path: Path, cookie_file: Path | None = None) -> Inventory:
    """Load an inventory file, apply a `--cookie-file` override and validate its waivers."""
    inv = load_inventory(path)
    if cookie_file is not None:
        inv = inv.model_copy(update={"cluster": inv.cluster.model_copy(update={"cookie_file": cookie_file})})
    ensure_valid_waivers(inv)
    return inv


def run_check(
    inv: Inventory,
    rules_: list[Rule],
    *,
    timeout: float | None = None,
    deadline: float | None = None,
    unknown_severity: Severity = "error",
    amend: Callable[[Facts], Facts] | None = None,
    **collect_flags: bool,
) -> CheckRun:
    """Probe the cluster the inventory names and judge the facts with `rules_`.

    `amend` adds offline facts (a definitions file) to what was collected, before the one judgement.
    """
    from preflight.collect import CollectOptions, collect

    ensure_valid_waivers(inv)
    started = dt.datetime.now(dt.UTC)
    t0 = time.perf_counter()
    facts = collect(inv, CollectOptions.of(inv, timeout, deadline, **collect_flags))
    if amend is not None:
        facts = amend(facts)
    collect_ms = (time.perf_counter() - t0) * 1000
    report = run_rules(
        facts, rules_, waivers=list(inv.waivers), unknown_severity=unknown_severity,
        started_at=started, collect_ms=collect_ms,
    )
    return CheckRun(facts=facts, report=report)
