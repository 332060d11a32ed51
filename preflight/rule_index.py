"""The rule table without the rules: what `preflight rules` and `preflight explain ID` print.

Listing the rules must not cost importing them (every family module, the HA resolver, the config
schema: ~60 ms of a 50 ms start-up budget), so their texts are kept as data beside the code, the way
ruff keeps its rule table. The data (`rule_index_data.py`) is generated from the rules themselves by
`scripts/gen_rule_index.py`; tests/unit/preflight/test_rule_index.py fails when it is stale, so the
`@rule(...)` declarations stay the one place a rule's text is written.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from rabbitmq_preflight.rule import Rule


class RuleText(NamedTuple):
    """A rule's identity and words: everything about it except its check."""

    id: str
    slug: str
    family: str
    severity: str
    title: str
    rationale: str
    remediation: str

    @classmethod
    def of(cls, rule: Rule) -> RuleText:
        return cls(rule.id, rule.slug, rule.family, rule.severity, rule.title, rule.rationale, rule.remediation)

    def explain(self) -> str:
        """What `preflight explain ID` prints."""
        return (
            f"{self.id} {self.slug} ({self.family}, default severity {self.severity})\n"
            f"{self.title}\n\nWhy:\n{self.rationale}\n\nFix:\n{self.remediation}\n"
        )


def rule_texts() -> tuple[RuleText, ...]:
    """Every rule's text, sorted by id (as `rules.all_rules()`)."""
    from rabbitmq_preflight.rule_index_data import RULES

    return tuple(RuleText(*row) for row in RULES)
