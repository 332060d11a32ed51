"""`preflight rules` and `preflight explain ID`: the rule table and each rule's text.

Both must start fast (no pydantic, no probes): rule modules import only `rule` and `contract` at
run time.
"""

from __future__ import annotations

import sys

import click

from rabbitmq_preflight.commands.common import run_guarded, write_stdout
from rabbitmq_preflight.contract import EXIT_OK
from rabbitmq_preflight.errors import UsageError


@click.command(name="rules")
@click.option("--format", "-f", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def list_rules(fmt: str) -> None:
    """List every rule: id, slug, family, default severity, title."""

    def body() -> int:
        import json

        from rabbitmq_preflight.pipeline import rule_catalogue

        rules_ = rule_catalogue()
        if fmt == "json":
            rows = [{"id": r.id, "slug": r.slug, "family": r.family, "severity": r.severity,
                     "title": r.title, "rationale": r.rationale, "remediation": r.remediation}
                    for r in rules_]
            write_stdout(json.dumps(rows, indent=2) + "\n")
        else:
            write_stdout("".join(f"{r.id:<10} {r.slug:<28} {r.family:<10} {r.severity:<8} {r.title}\n"
                                 for r in rules_))
        return EXIT_OK

    sys.exit(run_guarded(body))


@click.command()
@click.argument("rule_id")
def explain(rule_id: str) -> None:
    """Explain a rule (by id or slug): why it matters and how to fix what it finds."""

    def body() -> int:
        from rabbitmq_preflight.pipeline import rule_catalogue

        found = [r for r in rule_catalogue() if rule_id.upper() == r.id or rule_id.lower() == r.slug]
        if not found:
            raise UsageError(f"unknown rule {rule_id!r} (see `preflight rules`)")
        write_stdout(found[0].explain())
        return EXIT_OK

    sys.exit(run_guarded(body))
