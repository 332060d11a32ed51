"""YAML read through PyYAML's safe loader, keeping the line each mapping value starts on.

`safe_load` forgets positions; the node API keeps them (`node.start_mark.line`). We compose the
nodes with the safe loader (libyaml when present) and build plain dicts and lists, recording for
every mapping the line of each key in `LineMap.lines`.
"""

from __future__ import annotations

from typing import Any

import yaml

MAX_NODES = 200_000  # a Kubernetes list of thousands of objects; billion-laughs aliases stop here


class LineMap(dict[str, Any]):
    """A mapping that knows the (1-based) line of each key."""

    line: int
    lines: dict[str, int]


class LineList(list[Any]):
    line: int
    lines: list[int]


class YamlProblem(ValueError):
    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def _loader() -> type[Any]:
    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _build(node: yaml.Node, budget: list[int], depth: int = 0) -> Any:
    budget[0] -= 1
    if budget[0] < 0 or depth > 200:
        raise YamlProblem(node.start_mark.line + 1, "too many nodes or nested too deeply (aliases?)")
    if isinstance(node, yaml.MappingNode):
        out = LineMap()
        out.line = node.start_mark.line + 1
        out.lines = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                merged = _build(value_node, budget, depth + 1)
                for part in merged if isinstance(merged, list) else [merged]:
                    if isinstance(part, LineMap):
                        for k, v in part.items():
                            out.setdefault(k, v)
                            out.lines.setdefault(k, part.lines.get(k, out.line))
                continue
            key = _build(key_node, budget, depth + 1)
            out[str(key)] = _build(value_node, budget, depth + 1)
            out.lines[str(key)] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        seq = LineList()
        seq.line = node.start_mark.line + 1
        seq.lines = []
        for item in node.value:
            seq.append(_build(item, budget, depth + 1))
            seq.lines.append(item.start_mark.line + 1)
        return seq
    constructor = yaml.constructor.SafeConstructor()
    try:
        return constructor.construct_object(node)
    except (yaml.YAMLError, ValueError, TypeError, OverflowError):
        return str(node.value)


def load_all(text: str) -> list[Any]:
    """Every document of a (multi-document) YAML stream; bad YAML is a YamlProblem with its line."""
    try:
        nodes = list(yaml.compose_all(text, Loader=_loader()))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise YamlProblem(mark.line + 1 if mark else None, f"not YAML: {exc.problem or exc.context}") from None
    except (yaml.YAMLError, RecursionError) as exc:
        raise YamlProblem(None, f"not YAML: {type(exc).__name__}") from None
    budget = [MAX_NODES]
    return [_build(n, budget) for n in nodes if n is not None]


def line_of(mapping: Any, key: str, default: int = 1) -> int:
    if isinstance(mapping, LineMap):
        return mapping.lines.get(key, mapping.line)
    return default
