"""What `preflight rules` and `preflight explain ID` print, without click: both the click commands
(commands/rules.py) and the console script's fast path (entry.py) print exactly this.

Both read the rule index (rule_index.py), not the rules: listing rules must not import them."""

from __future__ import annotations


def rule_table(fmt: str) -> str:
    """Every rule: id, slug, family, default severity, title (`json`: with rationale and remediation)."""
    from rabbitmq_preflight.rule_index import rule_texts

    rules_ = rule_texts()
    if fmt == "json":
        import json  # only here: the text table, the common case, needs none (~2 ms of `preflight rules`)

        rows = [{"id": r.id, "slug": r.slug, "family": r.family, "severity": r.severity,
                 "title": r.title, "rationale": r.rationale, "remediation": r.remediation}
                for r in rules_]
        return json.dumps(rows, indent=2) + "\n"
    return "".join(f"{r.id:<10} {r.slug:<28} {r.family:<10} {r.severity:<8} {r.title}\n" for r in rules_)


def explanation(rule_id: str) -> str | None:
    """A rule's text by id or slug, or None when no rule has that name."""
    from rabbitmq_preflight.rule_index import rule_texts

    found = [r for r in rule_texts() if rule_id.upper() == r.id or rule_id.lower() == r.slug]
    return found[0].explain() if found else None
