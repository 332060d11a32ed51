"""Every config parser on arbitrary input: a document (with problems on their lines), a syntax error
with a line, or a one-line UsageError naming the file — never another exception. Then every config rule
on what came out: results, never a crash."""

from __future__ import annotations

import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rabbitmq_preflight.configfiles import envfile, erlang, manifests, rabbitmq_conf
from rabbitmq_preflight.configfiles.judge import with_config
from rabbitmq_preflight.configfiles.yaml_lines import YamlProblem, load_all
from rabbitmq_preflight.errors import UsageError
from rabbitmq_preflight.rules import all_rules

ERLANG_PIECES = st.sampled_from(["[", "]", "{", "}", ",", ".", "|", " ", "\n", "%c\n", "rabbit", "'q a'", '"s"',
                                 "<<\"b\">>", "16#ff", "-1", "2.5", "$a", "fun", "X", "#", "\\", "<<", ">>"])
CONF_PIECES = st.sampled_from(["key", ".", "=", " ", "\n", "#", "{{ x }}", "{%", "$", "value", "5672", "guest",
                               "default_pass", "loopback_users.guest", "false", "\t", "é"])
YAML_PIECES = st.sampled_from(["services:", "\n", "  ", "rabbit:", "image: rabbitmq:3", "volumes:", "- a:b:c",
                               "environment:", "X: $(hostname)", "kind: StatefulSet", "apiVersion: v1", "---",
                               "&a", "*a", "[", "]", "{", "}", ": ", "- ", "data:", "rabbitmq.conf: |", "'"])


def _text(pieces: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(st.lists(pieces, max_size=40).map("".join), st.text(max_size=200))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(_text(ERLANG_PIECES))
def test_erlang_terms_or_a_syntax_error_with_a_line(text: str) -> None:
    try:
        terms = erlang.consult(text)
    except erlang.TermSyntaxError as exc:
        assert 1 <= exc.line <= text.count("\n") + 1
    else:
        for term in terms:
            erlang.show(term)
            erlang.proplist(term)


@settings(max_examples=300)
@given(_text(CONF_PIECES))
def test_rabbitmq_conf_settings_and_problems_on_real_lines(text: str) -> None:
    settings_, problems = rabbitmq_conf.parse(text, "f.conf")
    lines = len(text.splitlines())
    assert all(1 <= s.line <= lines for s in settings_)
    assert all(p.line is not None and 1 <= p.line <= lines for p in problems)


@settings(max_examples=300)
@given(_text(CONF_PIECES | ERLANG_PIECES))
def test_env_files_assignments_or_problems(text: str) -> None:
    pairs, problems = envfile.parse(text, "rabbitmq-env.conf")
    assert all(name and line >= 1 for name, _, line in pairs)
    assert all(p.line for p in problems)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(_text(YAML_PIECES))
def test_yaml_manifests_workloads_or_a_yaml_problem(text: str) -> None:
    try:
        docs = load_all(text)
    except YamlProblem as exc:
        assert exc.line is None or exc.line >= 1
        return
    found = manifests.compose_services(docs[0]) if len(docs) == 1 else None
    if found is not None:
        manifests.read_compose(found[0], found[1], "c.yml")
    else:
        manifests.read_kubernetes(docs, "k.yml")


def test_billion_laughs_yaml_is_a_problem_not_memory() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
        f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n" for i in range(9))
    try:
        load_all(bomb)
    except YamlProblem as exc:
        assert "too many nodes" in exc.message
    else:
        raise AssertionError("expected a YamlProblem")
    assert yaml  # the loader is PyYAML's safe loader (no python/object tags)


NAMES = st.sampled_from(["rabbitmq.conf", "advanced.config", "enabled_plugins", "rabbitmq-env.conf",
                         "docker-compose.yml", "k8s.yaml", "definitions.json", "x.conf.j2"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(NAMES, st.one_of(_text(ERLANG_PIECES), _text(CONF_PIECES), _text(YAML_PIECES), st.binary(max_size=100)))
def test_any_file_lints_to_results_or_one_usage_line(name: str, content: str | bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass"))
        try:
            facts = with_config(None, (path,), None, None)
        except UsageError as exc:
            assert all("\n" not in line and str(path) in line for line in exc.lines)
            return
        for r in all_rules():
            if r.family == "config":
                list(r(facts))
