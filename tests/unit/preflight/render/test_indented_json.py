"""The SARIF writer's fast path writes exactly what json.dumps(indent=2, ensure_ascii=True) writes, and
hands back (NotPlain) whatever only the standard path, with its sanitizing, may write."""

from __future__ import annotations

import enum
import json
import random
from typing import Any

import pytest

from rabbitmq_preflight.render.indented_json import NotPlain, dumps_indented

STRINGS = ["", "plain", "é ünïcode", "quote \" backslash \\ slash /", "tab\tnewline\ncr\r", "\x00\x1f\x7f",
           "emoji 🐇", "\u2028\u2029", "<script>", "日本"]


def _value(rng: random.Random, depth: int) -> Any:
    kind = rng.randrange(9 if depth < 4 else 6)
    if kind == 0:
        return rng.choice(STRINGS)
    if kind == 1:
        return rng.choice([0, -1, 2**70, 42])
    if kind == 2:
        return rng.choice([0.0, -0.5, 1e300, 3.14159, 1e-7, 2.0])
    if kind == 3:
        return rng.choice([True, False])
    if kind == 4:
        return None
    if kind == 5:
        return rng.choice(STRINGS) * 2
    if kind == 6:
        return [_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    if kind == 7:
        return tuple(_value(rng, depth + 1) for _ in range(rng.randrange(3)))
    return {rng.choice(STRINGS) + str(i): _value(rng, depth + 1) for i in range(rng.randrange(4))}


def test_plain_data_is_written_byte_for_byte_as_json_dumps_writes_it() -> None:
    rng = random.Random(3)
    for _ in range(3_000):
        value = _value(rng, 0)
        assert dumps_indented(value) == json.dumps(value, indent=2, ensure_ascii=True, allow_nan=False)


class Colour(enum.Enum):
    RED = "red"


@pytest.mark.parametrize("value", [
    {"x": float("nan")}, [float("inf")], {"lone \udc80 surrogate": 1}, ["\ud800"], {1: "int key"},
    {"e": Colour.RED}, {"s": {1, 2}}, {"b": b"bytes"},
])
def test_what_needs_sanitizing_or_another_encoder_is_handed_back(value: object) -> None:
    with pytest.raises(NotPlain):
        dumps_indented(value)
