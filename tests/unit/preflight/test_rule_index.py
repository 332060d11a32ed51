"""The rule index (what `rules` and `explain` print without importing the rules) matches the rules."""

from __future__ import annotations

from rabbitmq_preflight.commands.rules_text import explanation, rule_table
from rabbitmq_preflight.rule_index import RuleText, rule_texts
from rabbitmq_preflight.rules import all_rules


def test_index_is_current() -> None:
    expected = tuple(RuleText.of(r) for r in all_rules())
    stale = sorted({t.id for t in set(expected) ^ set(rule_texts())})
    assert rule_texts() == expected, f"stale rule index for {stale}: run scripts/gen_rule_index.py"


def test_rules_table_lists_every_rule_in_id_order() -> None:
    ids = [line.split()[0] for line in rule_table("text").splitlines()]
    assert ids == [r.id for r in all_rules()]


def test_explain_is_the_rules_own_text() -> None:
    for r in all_rules():
        assert explanation(r.id) == r.explain()
        assert explanation(r.slug) == r.explain()
        assert r.rationale in r.explain() and r.remediation in r.explain()
    assert explanation("NOPE999") is None
