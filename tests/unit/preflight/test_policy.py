"""The effective-policy resolver and the Erlang → Python pattern translation.

Where `escript` exists (the lab machine has Erlang), the translation is checked against Erlang's own
`re:run` on generated patterns and names: that is the ground truth RabbitMQ uses.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rabbitmq_preflight.erlang_re import UntranslatablePattern, compile_erlang, latin1_view
from rabbitmq_preflight.facts import Policy, QueueRow
from rabbitmq_preflight.policy import PolicyIndex, merge_definitions

ESCRIPT = """#!/usr/bin/env escript
main([File]) ->
    {ok, Bin} = file:read_file(File),
    [io:format("~s~n", [run(L)]) || L <- binary:split(Bin, <<"\\n">>, [global, trim_all])].
run(L) ->
    [P, S] = binary:split(L, <<" ">>),
    case catch re:run(binary:decode_hex(S), binary:decode_hex(P), [{capture, none}]) of
        match -> "m"; nomatch -> "n"; _ -> "e"
    end.
"""


def matches(pattern: str, name: str) -> bool:
    return compile_erlang(pattern).search(latin1_view(name)) is True


# --- the translation: each difference that changes coverage ----------------------------------


def test_dot_matches_one_byte_so_a_two_byte_letter_is_two_characters() -> None:
    assert not matches("^.$", "é")
    assert matches("^..$", "é")


def test_word_class_uses_latin1_tables_not_unicode() -> None:
    assert matches(r"^\w$", "a")
    assert not matches(r"^\w+$", "²")  # Python's \w matches "²" (C2 B2); Erlang sees Â and ², only Â is a word char
    assert matches(r"\w", "é")  # the lead byte C3 is "Ã" in Latin-1, a letter


def test_brace_without_a_number_before_the_comma_is_a_literal() -> None:
    assert matches("a{,3}", "a{,3}")
    assert not matches("^a{,3}$", "aaa")


def test_unknown_letter_escape_is_the_letter() -> None:
    assert matches(r"\i\y", "iy")


def test_capital_z_allows_a_final_newline_but_small_z_does_not() -> None:
    assert matches(r"a\Z", "a\n")
    assert not matches(r"a\z", "a\n")


def test_inline_option_applies_to_the_rest_of_its_group_and_later_branches() -> None:
    assert matches("a(?i)b|c", "C")
    assert not matches("^(a(?i)b|c)d$", "CD")
    assert matches("^(a(?i)b|c)d$", "Cd")


def test_named_groups_and_quoting_translate() -> None:
    assert matches(r"^(?<prefix>orders)\.", "orders.1")
    assert matches(r"^x\Qa.b\E$", "xa.b")
    assert not matches(r"^x\Qa.b\E$", "xaxb")


@pytest.mark.parametrize("pattern", [r"(a)\1", r"a\K", r"\R", r"\p{L}", r"(?U)a+", r"(?(1)a|b)", r"(*UTF)a",
                                     r"\x{100}"])
def test_constructs_without_a_faithful_translation_are_rejected(pattern: str) -> None:
    with pytest.raises(UntranslatablePattern):
        compile_erlang(pattern)


def test_anchored_literal_prefix_is_answered_without_a_regex() -> None:
    compiled = compile_erlang(r"^orders\.eu-")
    assert compiled.prefix == "orders.eu-" and compiled.prefix_only
    assert compile_erlang(r"^orders\.(eu|us)").prefix == "orders."
    assert compile_erlang(r"^a|b").prefix is None  # top-level alternation: not anchored as a whole
    assert compile_erlang(".*").match_all


@given(st.text(max_size=40))
@settings(max_examples=500)
def test_any_pattern_translates_or_is_rejected_with_a_typed_error(pattern: str) -> None:
    try:
        compiled = compile_erlang(pattern)
    except UntranslatablePattern:
        return
    compiled.search(latin1_view("orders.1"))


_ATOMS = ["a", "b", "é", ".", "\\.", "\\w", "\\W", "\\d", "\\s", "\\b", "[a-c]", "[^a]", "[[:alpha:]]", "[\\w-]",
          "\\x41", "\\i", "{,2}", "x{2}", "(?i)", "$", "^", "\\Z", "\\z", "\\h", "\\N", "-", " ", "A", "\\Qa.\\E"]
_PATTERNS = st.lists(
    st.one_of(st.sampled_from(_ATOMS), st.sampled_from(["*", "+", "?", "|", "(", ")", "(?:", "(?i:"])),
    min_size=1, max_size=7,
).map("".join)
_NAMES = st.text(alphabet="abcABé.-_ \n²ÀxÃ{},2", max_size=8)


@pytest.mark.skipif(shutil.which("escript") is None, reason="needs Erlang's escript (the lab machine has it)")
@given(st.lists(st.tuples(_PATTERNS, _NAMES), min_size=300, max_size=300))
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
def test_translation_agrees_with_erlang_re_on_generated_patterns(cases: list[tuple[str, str]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        script, data = Path(tmp, "re.escript"), Path(tmp, "cases")
        script.write_text(ESCRIPT)
        data.write_text("".join(f"{p.encode().hex()} {n.encode().hex()}\n" for p, n in cases))
        erlang = subprocess.run(["escript", str(script), str(data)], capture_output=True, text=True,
                                check=True, timeout=60).stdout.split()
    assert len(erlang) == len(cases)
    for (pattern, name), verdict in zip(cases, erlang, strict=True):
        try:
            ours = "m" if matches(pattern, name) else "n"
        except UntranslatablePattern:
            continue
        if verdict != "e":  # patterns Erlang refuses never reach a live policy
            assert ours == verdict, (pattern, name)


# --- the resolver --------------------------------------------------------------------------


def pol(name: str, pattern: str, definition: dict[str, object], priority: int = 0, vhost: str = "/",
        apply_to: str = "all") -> Policy:
    return Policy(vhost=vhost, name=name, pattern=pattern, priority=priority, definition=definition,
                  apply_to=apply_to)


def test_highest_priority_wins_and_policies_do_not_merge() -> None:
    index = PolicyIndex([pol("ha-all", ".*", {"ha-mode": "all"}, 1),
                         pol("ttl", r"^orders\.", {"message-ttl": 60000}, 10)])
    res = index.resolve("/", "orders.1")
    assert res.policy is not None and res.policy.name == "ttl"
    assert res.effective == {"message-ttl": 60000}
    assert res.shadowed is not None and res.shadowed.name == "ha-all"


def test_ha_keys_make_a_policy_skip_quorum_queues_so_the_next_one_applies() -> None:
    index = PolicyIndex([pol("ha-all", ".*", {"ha-mode": "all"}, 5), pol("limit", ".*", {"max-length": 10}, 1)])
    assert index.resolve("/", "q", "quorum").policy.name == "limit"  # type: ignore[union-attr]
    assert index.resolve("/", "q", "classic").policy.name == "ha-all"  # type: ignore[union-attr]


def test_apply_to_quorum_queues_leaves_classic_queues_alone() -> None:
    index = PolicyIndex([pol("qq", ".*", {"max-length": 1}, apply_to="quorum_queues")])
    assert index.resolve("/", "q", "classic").policy is None
    assert index.resolve("/", "q", "quorum").policy is not None


def test_equal_priorities_are_flagged_as_a_tie_and_listing_order_decides() -> None:
    index = PolicyIndex([pol("first", "^t", {"ha-mode": "all"}, 3), pol("second", "^t", {"max-length": 1}, 3)])
    res = index.resolve("/", "tie")
    assert res.policy is not None and res.policy.name == "first"
    assert [cp.name for cp in res.tied] == ["second"]


def test_operator_policy_merges_smaller_limit_and_stronger_ha_mode() -> None:
    merged = merge_definitions({"max-length": 100, "ha-mode": "exactly", "ha-params": 2},
                               {"max-length": 10, "ha-mode": "all", "expires": 5})
    assert merged == {"max-length": 10, "ha-mode": "all", "ha-params": 2, "expires": 5}


def test_other_vhosts_policies_never_apply() -> None:
    index = PolicyIndex([pol("ha-all", ".*", {"ha-mode": "all"}, vhost="other")])
    assert index.resolve("/", "q").policy is None


def test_untranslatable_pattern_makes_the_resolution_undecidable() -> None:
    index = PolicyIndex([pol("odd", r"(a)\1", {"ha-mode": "all"})])
    assert [cp.name for cp in index.resolve("/", "aa").undecidable] == ["odd"]


def _naive(policies: list[Policy], ops: list[Policy], row: QueueRow) -> tuple[str | None, str | None]:
    """The definition of `rabbit_policy:match/2`, one regex call per policy and queue."""
    index = PolicyIndex(policies, ops)

    def best(operator: bool) -> str | None:
        found = [cp for cp in index.compiled if cp.operator == operator and cp.policy.vhost == row.vhost
                 and cp.fits(row.type) and cp.pattern is not None
                 and cp.pattern.regex.search(latin1_view(row.name))]
        found.sort(key=lambda cp: (-cp.priority, cp.order))
        return found[0].name if found else None

    return best(False), best(True)


_PREFIX_PATTERNS = st.sampled_from(["^o", r"^orders\.", r"^orders\.e", "^b", ".*", "", r"\.1$", "^o.*1",
                                    "^orders$", "e", "^(o|b)", "^é", "^orders\\..*"])


@given(
    st.lists(st.tuples(_PREFIX_PATTERNS, st.integers(-2, 3), st.booleans(), st.sampled_from(["/", "v"])),
             min_size=1, max_size=8),
    st.lists(st.tuples(st.text(alphabet="orders.eb1é", max_size=9), st.sampled_from(["classic", "quorum"]),
                       st.sampled_from(["/", "v"])), min_size=1, max_size=40),
)
@settings(max_examples=300, deadline=None)
def test_indexed_resolution_equals_one_regex_per_policy_and_queue(
    specs: list[tuple[str, int, bool, str]], queues: list[tuple[str, str, str]]
) -> None:
    policies = [pol(f"p{i}", p, {"ha-mode": "all"} if ha else {"max-length": i}, prio, vhost)
                for i, (p, prio, ha, vhost) in enumerate(specs)]
    ops = [pol("op", "^o", {"max-length": 1}, 0)]
    rows = [QueueRow(vhost=v, name=n, type=t) for n, t, v in queues] * 3  # > 8 per vhost: the bisect path
    for row, res in zip(rows, PolicyIndex(policies, ops).resolve_rows(rows), strict=True):
        want = _naive(policies, ops, row)
        got = (res.policy.name if res.policy else None, res.operator_policy.name if res.operator_policy else None)
        assert got == want, row
