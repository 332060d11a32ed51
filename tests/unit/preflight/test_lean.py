"""`record.lean` behaves as `dataclasses.dataclass` for every use the code makes of it: the same class
body under both decorators must construct, compare, hash, print and `replace` alike."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import pytest

from rabbitmq_preflight.record import lean


def _pair(frozen: bool) -> tuple[type[Any], type[Any]]:
    """The same class body as a plain dataclass and as a lean one."""

    def body(name: str) -> type[Any]:
        def post_init(self: Any) -> None:
            if self.port < 0:
                raise ValueError("port must not be negative")

        namespace: dict[str, Any] = {
            "__annotations__": {"host": "str", "port": "int", "tags": "list[str]", "token": "str",
                                "cache": "dict[str, int]"},
            "port": 5672,
            "tags": field(default_factory=list),
            "token": field(default="", repr=False),
            "cache": field(default_factory=dict, compare=False),
            "__post_init__": post_init,
            "__module__": __name__,
        }
        return type(name, (), namespace)

    plain = dataclass(frozen=frozen)(body("Spec"))
    leaned = lean(frozen=frozen)(body("Spec"))
    return plain, leaned


CALLS: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
    (("h",), {}),
    (("h", 1), {}),
    ((), {"host": "h", "port": 2, "tags": ["a"]}),
    (("h",), {"token": "secret", "cache": {"x": 1}}),
]
BAD_CALLS: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
    ((), {}),  # missing host
    (("h", 1, ["t"], "tok", {}, "extra"), {}),  # too many positional
    (("h",), {"host": "again"}),  # twice
    (("h",), {"nope": 1}),  # unknown
]


@pytest.mark.parametrize("frozen", [False, True])
def test_construction_equality_repr_and_replace_match_dataclass(frozen: bool) -> None:
    plain, leaned = _pair(frozen)
    for args, kwargs in CALLS:
        a, b = plain(*args, **kwargs), leaned(*args, **kwargs)
        assert dataclasses.asdict(a) == dataclasses.asdict(b)
        assert repr(a) == repr(b) and "secret" not in repr(b)
        assert b == leaned(*args, **kwargs) and b != plain(*args, **kwargs)  # same class only
        assert b == dataclasses.replace(b, cache={"other": 2})  # compare=False is not compared
        assert b != dataclasses.replace(b, port=9)
        assert dataclasses.replace(b, port=9).port == 9
    assert leaned("h").tags is not leaned("h").tags  # a fresh default each time


@pytest.mark.parametrize("frozen", [False, True])
def test_bad_calls_fail_as_dataclass_fails(frozen: bool) -> None:
    plain, leaned = _pair(frozen)
    for args, kwargs in BAD_CALLS:
        with pytest.raises(TypeError):
            plain(*args, **kwargs)
        with pytest.raises(TypeError):
            leaned(*args, **kwargs)
    with pytest.raises(ValueError, match="negative"):
        leaned("h", -1)  # __post_init__ runs


def test_frozen_hashes_by_value_and_refuses_assignment() -> None:
    plain, leaned = _pair(True)
    assert hash(leaned("h", 1, ())) == hash(leaned("h", 1, (), cache={"x": 1})) == hash(plain("h", 1, ()))
    assert len({leaned("h", 1, ()), leaned("h", 1, ()), leaned("h", 2, ())}) == 2
    with pytest.raises(TypeError, match="list"):
        hash(leaned("h"))  # a list field: unhashable, as with dataclass
    for cls in (plain, leaned):  # the same errors, word for word: set or delete, field or not
        spec = cls("h")
        errors = []
        for name, value in (("port", 2), ("new", 1), ("port", None)):
            with pytest.raises(dataclasses.FrozenInstanceError) as caught:
                if value is None:
                    delattr(spec, name)
                else:
                    setattr(spec, name, value)
            errors.append(str(caught.value))
        assert errors == ["cannot assign to field 'port'", "cannot assign to field 'new'",
                          "cannot delete field 'port'"]
        assert spec.port == 5672


def test_a_frozen_lean_class_may_extend_a_frozen_lean_class() -> None:
    """dataclass refuses to mix frozen and unfrozen bases; lean classes tell it none is frozen, so the
    one case the code uses — frozen on frozen — must still build and stay frozen."""
    _, base = _pair(True)
    child: type[Any] = lean(frozen=True)(type("Child", (base,), {"__annotations__": {"extra": "int"}, "extra": 0,
                                                      "__module__": __name__}))
    made = child("h", extra=3)
    assert [f.name for f in dataclasses.fields(made)][-1] == "extra" and made.extra == 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.extra = 4


def test_unfrozen_is_unhashable_and_assignable() -> None:
    _, leaned = _pair(False)
    spec = leaned("h")
    spec.port = 7
    assert spec.port == 7
    with pytest.raises(TypeError, match="unhashable"):
        hash(spec)
