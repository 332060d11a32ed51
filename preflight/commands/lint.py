"""`preflight lint PATH…`: judge config files before they are deployed; exit 0/1 by --fail-on."""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from pathlib import Path
from typing import Any

import click

from rabbitmq_preflight.commands.common import run_guarded
from rabbitmq_preflight.contract import FORMATS, SEVERITIES, Severity
from rabbitmq_preflight.errors import UsageError


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--rabbitmq", "target", metavar="X.Y",
              help="RabbitMQ series to judge the files for (default: the inventory's expect.rabbitmq, else each "
                   "image's tag).")
@click.option("--inventory", "-i", "inventory_path", type=click.Path(path_type=Path),
              help="Inventory TOML: its expect.rabbitmq and waivers apply.")
@click.option("--format", "-f", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option("--fail-on", type=click.Choice(SEVERITIES), default="error", show_default=True,
              help="Exit 1 when a finding is at or above this severity.")
@click.option("--select", multiple=True, help="Rule ids, id prefixes, slugs or families to run.")
@click.option("--ignore", multiple=True, help="Rule ids, id prefixes, slugs or families to skip.")
@click.option("--report", "report_specs", multiple=True, help="Extra report FORMAT:PATH (repeatable).")
@click.option("--color/--no-color", default=None, help="Colour the text output (default: when a TTY).")
def lint(**params: Any) -> None:
    """Lint rabbitmq.conf, advanced.config, rabbitmq-env.conf, enabled_plugins, definitions exports,
    docker-compose files and Kubernetes manifests (files or directories)."""
    sys.exit(run_guarded(lambda: run_lint(**params)))


def lint_rules(select: tuple[str, ...], ignore: tuple[str, ...], definitions: bool) -> list[Any]:
    """The config family, and the HA rules when a definitions export is among the files."""
    from rabbitmq_preflight.pipeline import choose_rules

    default = ("config", "ha-policy") if definitions else ("config",)
    return choose_rules(select or default, ignore)


def run_lint(paths: tuple[Path, ...], target: str | None, inventory_path: Path | None, fmt: str,
             fail_on: Severity, select: tuple[str, ...], ignore: tuple[str, ...], report_specs: tuple[str, ...],
             color: bool | None) -> int:
    from rabbitmq_preflight.commands.check import emit, parse_report_specs
    from rabbitmq_preflight.engine import run_rules
    from rabbitmq_preflight.pipeline import ConfigFiles, gather, load_checked_inventory

    reports = parse_report_specs(report_specs)
    inv = load_checked_inventory(inventory_path) if inventory_path is not None else None
    if target is not None and inv is not None and inv.expect.rabbitmq and inv.expect.rabbitmq != target:
        raise UsageError(f"--rabbitmq {target} disagrees with the inventory's expect.rabbitmq "
                         f"{inv.expect.rabbitmq}: give one")
    started, t0 = dt.datetime.now(dt.UTC), time.perf_counter()
    source = ConfigFiles(paths=paths, target=target, target_from="--rabbitmq" if target else None)
    facts = gather(inv, [source])
    has_definitions = any(d.kind == "definitions" and not d.problems
                          for d in (facts.config.documents if facts.config else []))
    rules = lint_rules(select, ignore, has_definitions)
    report = run_rules(facts, rules, waivers=facts.inventory.waivers, started_at=started,
                       collect_ms=(time.perf_counter() - t0) * 1000)
    use_color = color if color is not None else (sys.stdout.isatty() and "NO_COLOR" not in os.environ)
    emit(report, fmt, reports, fail_on, use_color, inventory_path)
    return report.exit_code(fail_on)
