"""`preflight rules` and `preflight explain ID`: the rule table and each rule's text.

Both must start fast (no pydantic, no probes): rule modules import only `rule` and `contract` at
run time.
"""

from __future__ import annotations

import sys

import click

from rabbitmq_preflight.commands.common import run_guarded, write_stdout
from rabbitmq_preflight.commands.rules_text import explanation, rule_table
from rabbitmq_preflight.contract import EXIT_OK
from rabbitmq_preflight.errors import UsageError


@click.command(name="rules")
@click.option("--format", "-f", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def list_rules(fmt: str) -> None:
    """List every rule: id, slug, family, default severity, title."""

    def body() -> int:
        write_stdout(rule_table(fmt))
        return EXIT_OK

    sys.exit(run_guarded(body))


@click.command()
@click.argument("rule_id")
def explain(rule_id: str) -> None:
    """Explain a rule (by id or slug): why it matters and how to fix what it finds."""

    def body() -> int:
        text = explanation(rule_id)
        if text is None:
            raise UsageError(f"unknown rule {rule_id!r} (see `preflight rules`)")
        write_stdout(text)
        return EXIT_OK

    sys.exit(run_guarded(body))
