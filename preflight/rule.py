"""What a rule is: its metadata, the results it yields, and the `@rule` decorator that makes one.

A rule is a pure function from `Facts` to results, decorated in its family's module under `rules/`.
The decorator returns a `Rule` (still callable like the function), so a family module is just a list
of `Rule` objects; the rules package gathers them and the engine judges with whatever list it is
given. Nothing here registers globally, and nothing here imports pydantic: listing and explaining
rules must start fast.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterable
from dataclasses import field
from typing import TYPE_CHECKING, Any

from rabbitmq_preflight.contract import Family, Severity
from rabbitmq_preflight.record import lean

if TYPE_CHECKING:
    from rabbitmq_preflight.facts import Facts


@lean(frozen=True)
class Fail:
    """A check that failed: what a rule returns to make a finding."""

    node: str | None
    message: str
    subject: str = ""
    remediation: str | None = None  # the rule's generic remediation when None
    evidence: dict[str, Any] = field(default_factory=dict)
    severity: Severity | None = None  # the rule's default severity when None
    file: str | None = None  # the config file the finding is about (lint), and its 1-based line
    line: int | None = None


@lean(frozen=True)
class Pass:
    """A check that passed, for one node (or the cluster) and subject."""

    node: str | None
    subject: str = ""


@lean(frozen=True)
class Unknown:
    """The question applies, but the facts to answer it are missing: never a pass."""

    node: str | None
    reason: str
    subject: str = ""


@lean(frozen=True)
class Skip:
    """The question does not apply here (say why): not a finding."""

    node: str | None
    reason: str
    subject: str = ""


Result = Fail | Pass | Unknown | Skip
RuleFunc = Callable[["Facts"], Iterable[Result]]


@lean(frozen=True)
class Rule:
    """A rule: its id, texts and default severity, and the pure function that checks the facts."""

    id: str
    slug: str
    family: Family
    severity: Severity
    title: str
    rationale: str
    remediation: str
    check: RuleFunc

    def __call__(self, facts: Facts) -> Iterable[Result]:
        return self.check(facts)

    def explain(self) -> str:
        from rabbitmq_preflight.rule_index import RuleText

        return RuleText.of(self).explain()


def rule(
    *,
    id: str,
    slug: str,
    family: Family,
    severity: Severity,
    title: str,
    rationale: str,
    remediation: str,
) -> Callable[[RuleFunc], Rule]:
    """Make a rule of a check function. Ids and slugs are stable: users' configs and waivers name them."""

    def make(func: RuleFunc) -> Rule:
        return Rule(id, slug, family, severity, title.strip(), _dedent(rationale), _dedent(remediation), func)

    return make


def _dedent(text: str) -> str:
    return textwrap.dedent(text).strip()
