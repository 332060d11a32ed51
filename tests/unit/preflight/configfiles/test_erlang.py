from __future__ import annotations

import pytest

from rabbitmq_preflight.configfiles.erlang import (
    Atom,
    Binary,
    EList,
    ETuple,
    TermSyntaxError,
    consult,
    parse_term,
    proplist,
    show,
)


def test_advanced_config_terms_keep_the_line_of_each_tuple() -> None:
    text = "%% comment\n[\n  {rabbit, [\n    {cluster_partition_handling, pause_minority},\n" \
           "    {loopback_users, []}\n  ]}\n].\n"
    (top,) = consult(text)
    assert isinstance(top, EList)
    (app, settings, line), = proplist(top)
    assert (app, line) == ("rabbit", 3)
    assert [(k, show(v), ln) for k, v, ln in proplist(settings)] == [
        ("cluster_partition_handling", "pause_minority", 4), ("loopback_users", "[]", 5)]


def test_reads_the_literals_config_files_use() -> None:
    term = parse_term('{a, "s\\"q", <<"bin">>, \'Quoted atom\', 16#ff, -3, 1.5e3, $a, [x | y], <<>>}')
    assert isinstance(term, ETuple)
    assert term.items == (Atom("a"), 's"q', Binary("bin"), Atom("Quoted atom"), 255, -3, 1500.0, 97,
                          EList((Atom("x"),), 1, Atom("y")), Binary(""))


def test_enabled_plugins_is_one_list() -> None:
    (plugins,) = consult("[rabbitmq_management,rabbitmq_peer_discovery_k8s].\n")
    assert isinstance(plugins, EList)
    assert [str(p) for p in plugins.items] == ["rabbitmq_management", "rabbitmq_peer_discovery_k8s"]


@pytest.mark.parametrize(("text", "line", "says"), [
    ("[{rabbit, []}]", 1, "expected '.'"),
    ("[\n{rabbit,\n [fun(X) -> X end]}].", 3, "funs are code"),
    ("[\n\n{rabbit, Var}].", 3, "variables"),
    ('[{a, "open}].', 1, "unterminated string"),
    ("[{a, b}", 1, "expected"),
    ("#{a => 1}.", 1, "unexpected '#'"),
])
def test_bad_input_is_a_syntax_error_with_its_line(text: str, line: int, says: str) -> None:
    with pytest.raises(TermSyntaxError) as err:
        consult(text)
    assert err.value.line == line
    assert says in err.value.message


def test_deep_nesting_is_refused_not_a_recursion_error() -> None:
    with pytest.raises(TermSyntaxError, match="nested too deeply"):
        consult("[" * 5000 + "]" * 5000 + ".")
