"""Records: the data model (inventory, facts, report) as plain dataclasses; pydantic at file boundaries.

Why not pydantic models throughout: importing pydantic and building ~90 model classes cost ~200 ms of
every `preflight check` (issue 11: the whole check's budget is 0.3 s), while a check reads only one
file — the inventory — and that one is almost always well formed. So the classes are standard
dataclasses (`kw_only`, made lean by `Record.__init_subclass__`: see below), and pydantic — still the
one authority on what a file may contain and on the wording of every error — is imported only where a
file is validated: `Model.model_validate(…)` / `model_validate_json(…)` build a `TypeAdapter` for the
class on first use (pydantic validates standard dataclasses natively, generics and nesting included,
and reads `__pydantic_config__`). `strict_build` takes the inventory's fast path: it accepts only
input whose every value already has its field's exact type, and declines anything else so pydantic
decides (a test holds the two to the same result on every inventory the tests know, and mutations).

The method names are pydantic's (`model_dump`, `model_copy`, …) so callers read the same; the JSON a
record dumps is the JSON pydantic dumps for it (a test compares them on real facts and reports), and
`outputs.model_json` lets pydantic's serializer write the large documents, where it is faster.

Field constraints and validators are `Annotated` markers (`Ge`, `Le`, `Gt`, `MinLen`, `Match`,
`Check`): checked here on the fast path, and handed to pydantic as its own constraints (same error
types and messages) when pydantic validates. A field whose name ends in `_` (`schema_`, `pass_`)
is spelled without it in files (`schema`, `pass`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import operator
import re
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Self, Union, dataclass_transform, get_args, get_origin

if TYPE_CHECKING:
    from pydantic import GetCoreSchemaHandler, TypeAdapter
    from pydantic_core import CoreSchema


def external_name(field: str) -> str:
    """A field's name in files: `schema_` → `schema` (the underscore only dodges a Python name)."""
    return field[:-1] if field.endswith("_") else field


def _is_record(tp: object) -> bool:
    return isinstance(tp, type) and issubclass(tp, Record)


# -- lean dataclasses ------------------------------------------------------------------------------
# dataclass compiles an `__init__`, `__eq__`, `__repr__` (and, frozen, `__hash__`) for every class, and
# computes a docstring from `inspect.signature` when there is none: ~0.25-1 ms a class, ~110 classes at
# every start of a check. A lean dataclass is a real dataclass (`dataclasses.fields`, `replace`,
# pydantic all see its fields) whose methods are written once, here, generically from the fields.
# Building an instance costs about the same: 2.0 µs a frozen rule result against 2.4 µs for the frozen
# dataclass (which sets each field through `object.__setattr__`). Not offered: slots, ordering,
# `field(init=False)`.


def _make_lean(cls: type, *, frozen: bool, kw_only: bool) -> None:
    if not cls.__doc__:
        cls.__doc__ = f"A {cls.__name__}."
    # Never `frozen=True` here: dataclass then compiles a `__setattr__` and `__delattr__` for the class
    # (~0.2 ms each time, 8 ms for the check's 37 frozen classes); the generic pair below does the same.
    # So `__dataclass_params__.frozen` reads False on a lean class (pydantic, which reads it, only uses
    # it for assignment validation, which we never ask for); `__lean_frozen__` is the truth.
    dataclasses.dataclass(kw_only=kw_only, init=False, repr=False, eq=False)(cls)
    if frozen:
        type.__setattr__(cls, "__setattr__", _lean_frozen_setattr)
        type.__setattr__(cls, "__delattr__", _lean_frozen_delattr)
    fields = dataclasses.fields(cls)
    type.__setattr__(cls, "__record_fields__", tuple(
        (f.name, f.default, None if f.default_factory is dataclasses.MISSING else f.default_factory)
        for f in fields if f.init))
    type.__setattr__(cls, "__lean_positional__", tuple(f.name for f in fields if f.init and not f.kw_only))
    type.__setattr__(cls, "__lean_compared__", tuple(f.name for f in fields if f.compare))
    type.__setattr__(cls, "__lean_shown__", tuple(f.name for f in fields if f.repr))
    type.__setattr__(cls, "__lean_frozen__", frozen)


def _lean_init(self: Any, *args: Any, **kwargs: Any) -> None:
    cls = type(self)
    positional: tuple[str, ...] = cls.__lean_positional__
    if len(args) > len(positional):
        raise TypeError(f"{cls.__name__}() takes {len(positional)} positional arguments but {len(args)} were given")
    for name, value in zip(positional, args, strict=False):
        if name in kwargs:
            raise TypeError(f"{cls.__name__}() got multiple values for argument {name!r}")
        kwargs[name] = value
    values = self.__dict__  # written directly: frozen classes too, as dataclass's own __init__ does
    used = 0
    for name, default, factory in cls.__record_fields__:
        if name in kwargs:
            values[name] = kwargs[name]
            used += 1
        elif factory is not None:
            values[name] = factory()
        elif default is not dataclasses.MISSING:
            values[name] = default
        else:
            raise TypeError(f"{cls.__name__}() missing required argument: {name!r}")
    if used != len(kwargs):
        known = {name for name, _, _ in cls.__record_fields__}
        unknown = next(k for k in kwargs if k not in known)
        raise TypeError(f"{cls.__name__}() got an unexpected keyword argument {unknown!r}")
    post_init = getattr(self, "__post_init__", None)
    if post_init is not None:
        post_init()


def _lean_frozen_setattr(self: Any, name: str, value: Any) -> None:
    """As a frozen dataclass: no attribute of the frozen class's own instances can be set."""
    raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")


def _lean_frozen_delattr(self: Any, name: str) -> None:
    raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")


def _compared(obj: Any) -> tuple[Any, ...]:
    values = obj.__dict__
    return tuple(values[name] for name in type(obj).__lean_compared__)


def _lean_eq(self: Any, other: object) -> bool:  # NotImplemented, as dataclass: the other side decides
    if type(other) is not type(self):
        return NotImplemented  # type: ignore[no-any-return]
    same: bool = _compared(self) == _compared(other)
    return same


def _lean_hash(self: Any) -> int:
    """Frozen: by value, as a frozen dataclass; otherwise unhashable, as a dataclass with eq."""
    if not type(self).__lean_frozen__:
        raise TypeError(f"unhashable type: {type(self).__name__!r}")
    return hash(_compared(self))


def _lean_repr(self: Any) -> str:
    """As dataclass writes it: `Name(field=value, …)`, without the fields marked `repr=False`."""
    shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in type(self).__lean_shown__)
    return f"{type(self).__qualname__}({shown})"


_T = typing.TypeVar("_T")


@typing.overload
def lean(cls: type[_T], /) -> type[_T]: ...


@typing.overload
def lean(*, frozen: bool = False) -> Callable[[type[_T]], type[_T]]: ...


@dataclass_transform(field_specifiers=(dataclasses.field,))
def lean(cls: type[_T] | None = None, /, *, frozen: bool = False) -> Any:
    """`@dataclass` / `@dataclass(frozen=True)`, with the methods written once instead of per class."""
    def wrap(target: type[_T]) -> type[_T]:
        _make_lean(target, frozen=frozen, kw_only=False)
        type.__setattr__(target, "__init__", _lean_init)
        type.__setattr__(target, "__eq__", _lean_eq)
        type.__setattr__(target, "__hash__", _lean_hash)
        type.__setattr__(target, "__repr__", _lean_repr)
        return target

    return wrap if cls is None else wrap(cls)


def excluded(default: Any = dataclasses.MISSING, **kwargs: Any) -> Any:
    """A field that is never dumped (the inventory's `source`, the management password)."""
    return dataclasses.field(default=default, metadata={"exclude": True}, **kwargs)


@dataclass_transform(kw_only_default=True, field_specifiers=(dataclasses.field, excluded))
class Record:
    """Base of every data class: a keyword-only dataclass that forbids unknown keys in files."""

    __pydantic_config__: ClassVar[dict[str, Any]] = {
        "extra": "forbid",
        "alias_generator": external_name,
        "validate_by_name": True,
        "validate_by_alias": True,
    }
    __frozen__: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _make_lean(cls, frozen=cls.__frozen__, kw_only=True)

    __record_fields__: ClassVar[tuple[tuple[str, Any, Callable[[], Any] | None], ...]] = ()

    def __init__(self, **kwargs: Any) -> None:
        _lean_init(self, **kwargs)

    def __eq__(self, other: object) -> bool:
        return _lean_eq(self, other)

    def __hash__(self) -> int:
        """Frozen records hash by value (as frozen dataclasses); the others are unhashable."""
        return _lean_hash(self)

    def __repr__(self) -> str:
        return _lean_repr(self)

    # -- pydantic's spellings ------------------------------------------------------------------------

    def model_copy(self, *, update: dict[str, Any] | None = None) -> Self:
        """A shallow copy with `update` applied (not validated, as pydantic's `model_copy`)."""
        return dataclasses.replace(self, **(update or {}))  # type: ignore[type-var]

    def model_dump(self, *, mode: Literal["python", "json"] = "python", by_alias: bool = False,
                   exclude: set[str] | None = None) -> dict[str, Any]:
        """The record as a dict, nested records and all; `mode="json"` as `json.dumps` takes it."""
        out = _dump_record(self, mode == "json", by_alias)
        for name in exclude or ():
            out.pop(external_name(name) if by_alias else name, None)
        return out

    def model_dump_json(self, *, by_alias: bool = False, indent: int | None = None) -> str:
        import json

        return json.dumps(self.model_dump(mode="json", by_alias=by_alias), indent=indent, ensure_ascii=False,
                          allow_nan=False)

    @classmethod
    def model_validate(cls, data: object) -> Self:
        """Validate decoded data (a dict from JSON or TOML) with pydantic; raises its ValidationError."""
        return adapter(cls).validate_python(data)  # type: ignore[no-any-return]

    @classmethod
    def model_validate_json(cls, raw: str | bytes) -> Self:
        return adapter(cls).validate_json(raw)  # type: ignore[no-any-return]


_Dumped = tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]
_DUMPED: dict[type, _Dumped] = {}


def _dumped_fields(cls: type) -> _Dumped:
    """(name, name in files) of every field a dump shows (not the excluded, not a cache attribute), and
    of those typed `float`: an int there is dumped as a float in JSON (`2.0`), as pydantic dumps it."""
    found = _DUMPED.get(cls)
    if found is None:
        shown = tuple((f.name, external_name(f.name)) for f in dataclasses.fields(cls)
                      if not f.metadata.get("exclude"))
        hints = _hints(cls)
        found = _DUMPED[cls] = (shown, tuple(pair for pair in shown if _is_float(hints[pair[0]])))
    return found


def _is_float(tp: Any) -> bool:
    """`float`, `float | None`, `Annotated[float, …]` (not `int | float`: pydantic keeps an int there)."""
    if get_origin(tp) is typing.Annotated:
        return _is_float(get_args(tp)[0])
    if get_origin(tp) is Union or get_origin(tp) is types.UnionType:
        args = [a for a in get_args(tp) if a is not type(None)]
        return len(args) == 1 and _is_float(args[0])
    return tp is float


PLAIN_TYPES = frozenset({str, int, float, bool, type(None)})  # dumped as they are; they hold no record


def _dump_record(record: Record, json_mode: bool, by_alias: bool) -> dict[str, Any]:
    values = record.__dict__
    plain = PLAIN_TYPES
    shown, floats = _dumped_fields(type(record))
    out: dict[str, Any] = {}
    for name, alias in shown:  # the common case inline: ~3 million values in a 10,000-node report
        value = values[name]
        out[alias if by_alias else name] = value if type(value) in plain else dump_value(value, json_mode, by_alias)
    if json_mode:
        for name, alias in floats:
            if type(values[name]) is int:
                out[alias if by_alias else name] = float(values[name])
    return out


def dump_value(value: Any, json_mode: bool, by_alias: bool) -> Any:
    """One value as pydantic's `model_dump` gives it (`json_mode`: as its `mode="json"`)."""
    if type(value) in PLAIN_TYPES:
        return value
    if isinstance(value, Record):
        return _dump_record(value, json_mode, by_alias)
    if isinstance(value, dict):
        return {k: v if type(v) in PLAIN_TYPES else dump_value(v, json_mode, by_alias) for k, v in value.items()}
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a NamedTuple: a list in JSON, as pydantic
        items = [v if type(v) in PLAIN_TYPES else dump_value(v, json_mode, by_alias) for v in value]
        return items if json_mode else type(value)(*items)
    if isinstance(value, list | tuple | set | frozenset):
        items = [v if type(v) in PLAIN_TYPES else dump_value(v, json_mode, by_alias) for v in value]
        return items if json_mode or isinstance(value, list) else type(value)(items)
    if isinstance(value, str | int | float):  # a subclass (an enum's value type)
        return value
    if not json_mode:
        return value
    if isinstance(value, dt.datetime):
        return _iso_datetime(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Secret):
        return str(value)
    raise TypeError(f"cannot dump {type(value).__name__} to JSON")


def _iso_datetime(value: dt.datetime) -> str:
    """pydantic's spelling: UTC as `Z`, other offsets as `+hh:mm`, microseconds only when set."""
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


# -- the management password ----------------------------------------------------------------------


class Secret:
    """A secret string: shown as `**********` everywhere, read only with `get_secret_value()`."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        return self._value

    def __str__(self) -> str:
        return "**********" if self._value else ""

    def __repr__(self) -> str:
        return f"Secret('{self}')"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        from pydantic_core import core_schema

        return core_schema.no_info_after_validator_function(
            cls, core_schema.str_schema(),
            serialization=core_schema.plain_serializer_function_ser_schema(str))


# -- constraints: one definition, checked here on the fast path and by pydantic otherwise --------------


class _Constraint:
    """An `Annotated` marker. `ok(value)` for the fast path; pydantic gets its own equivalent."""

    def ok(self, value: Any) -> bool:
        raise NotImplementedError

    def pydantic_marker(self) -> Any:
        raise NotImplementedError

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return handler(typing.Annotated[source, self.pydantic_marker()])


class _Bound(_Constraint):
    """A numeric bound; each subclass is named as the annotated_types class pydantic receives."""

    compare: ClassVar[Callable[[Any, Any], Any]]

    def __init__(self, bound: float) -> None:
        self.bound = bound

    def ok(self, value: Any) -> bool:
        return bool(type(self).compare(value, self.bound))

    def pydantic_marker(self) -> Any:
        import annotated_types

        return getattr(annotated_types, type(self).__name__)(self.bound)


class Ge(_Bound):
    """value >= bound"""

    compare = operator.ge


class Gt(_Bound):
    """value > bound"""

    compare = operator.gt


class Le(_Bound):
    """value <= bound"""

    compare = operator.le


class MinLen(_Constraint):
    def __init__(self, length: int) -> None:
        self.length = length

    def ok(self, value: Any) -> bool:
        return len(value) >= self.length and _encodable(value)

    def pydantic_marker(self) -> Any:
        import annotated_types

        return annotated_types.MinLen(self.length)


class Match(_Constraint):
    """A string pattern, searched from the start as pydantic's `pattern=` does."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern

    def ok(self, value: Any) -> bool:
        # A newline goes to pydantic: Python's `$` also matches before a final newline, the regex engine
        # pydantic uses (Rust's) only at the very end, so "/var/lib\n" passes here and fails there.
        return "\n" not in value and _encodable(value) and re.match(self.pattern, value) is not None

    def pydantic_marker(self) -> Any:
        from pydantic import StringConstraints

        return StringConstraints(pattern=self.pattern)


def _encodable(value: Any) -> bool:
    """False for a str with a lone surrogate: pydantic's length and pattern checks refuse it (they read the
    string as UTF-8), where an unconstrained str keeps it. Never from an inventory: TOML cannot carry one."""
    if not isinstance(value, str) or value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class Check(_Constraint):
    """A validator: returns the value or raises ValueError with the sentence the operator reads."""

    def __init__(self, func: Callable[[Any], Any]) -> None:
        self.func = func

    def ok(self, value: Any) -> bool:
        try:
            self.func(value)
        except ValueError:
            return False
        return True

    def pydantic_marker(self) -> Any:
        from pydantic import AfterValidator

        return AfterValidator(self.func)


# -- pydantic, at the boundary ---------------------------------------------------------------------

_ADAPTERS: dict[type, TypeAdapter[Any]] = {}


def adapter(cls: type) -> TypeAdapter[Any]:
    """The pydantic validator of a record class, built on first use (importing pydantic then)."""
    found = _ADAPTERS.get(cls)
    if found is None:
        from pydantic import TypeAdapter

        found = _ADAPTERS[cls] = TypeAdapter(cls)
    return found


# pydantic words two errors differently for dataclasses than for models; files keep the models' words.
_MODEL_WORDING = {
    "unexpected_keyword_argument": "Extra inputs are not permitted",
    "missing_keyword_only_argument": "Field required",
    "missing_argument": "Field required",
}


def error_message(error: Any) -> str:
    """The message of one pydantic error (an item of `ValidationError.errors()`), as a model says it."""
    return str(_MODEL_WORDING.get(error["type"], error["msg"]))


# -- the fast path: exact types only, else pydantic decides ----------------------------------------


class Decline(Exception):
    """The fast path does not vouch for this input: pydantic must validate it."""


def strict_build(cls: type[Record], data: object) -> Any:
    """`cls` built from `data` when every value already has its field's exact type and passes every
    constraint; raises Decline otherwise (unknown keys, a wrong or coercible type, a failed check)."""
    return _strict(cls, data)


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    found = _HINTS.get(cls)
    if found is None:
        found = _HINTS[cls] = typing.get_type_hints(cls, include_extras=True)
    return found


def _strict(tp: Any, value: object) -> Any:  # one case per kind of type
    origin = get_origin(tp)
    if tp is Any:
        return value
    if tp is str or tp is int or tp is bool or tp is type(None):
        if type(value) is not tp:
            raise Decline
        return value
    if tp is float:
        if type(value) is float or type(value) is int:
            try:
                return float(value)  # type: ignore[arg-type,unused-ignore]
            except OverflowError:  # an int beyond any float (TOML allows it): pydantic words the error
                raise Decline from None
        raise Decline
    if tp is Path:
        if isinstance(value, str | Path):
            return Path(value)
        raise Decline
    if tp is dt.date:
        if type(value) is dt.date:
            return value
        raise Decline
    if origin is typing.Annotated:
        base, *marks = get_args(tp)
        out = _strict(base, value)
        for mark in marks:
            if not isinstance(mark, _Constraint) or not mark.ok(out):
                raise Decline
        return out
    if origin is Literal:
        if any(type(value) is type(arg) and value == arg for arg in get_args(tp)):
            return value
        raise Decline
    if origin is Union or origin is types.UnionType:
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        matched = [a for a in args if a is not type(None)]
        if len(matched) != 1:
            raise Decline  # a real union: pydantic's smart mode picks, not us
        return _strict(matched[0], value)
    if origin is list:
        if type(value) is not list:
            raise Decline
        (item,) = get_args(tp)
        return [_strict(item, v) for v in value]
    if origin is dict:
        if type(value) is not dict:
            raise Decline
        key_tp, item = get_args(tp)
        return {_strict(key_tp, k): _strict(item, v) for k, v in value.items()}
    if _is_record(tp):
        return _strict_record(tp, value)
    raise Decline


_EXTERNAL: dict[type, dict[str, dataclasses.Field[Any]]] = {}


def _by_external_name(cls: type[Record]) -> dict[str, dataclasses.Field[Any]]:
    found = _EXTERNAL.get(cls)
    if found is None:
        found = _EXTERNAL[cls] = {external_name(f.name): f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return found


def _strict_record(cls: type[Record], value: object) -> Record:
    if type(value) is not dict:
        raise Decline
    hints = _hints(cls)
    fields = _by_external_name(cls)
    kwargs: dict[str, Any] = {}
    for key, item in value.items():
        field = fields.get(key) if isinstance(key, str) else None
        if field is None or field.name in kwargs:
            raise Decline
        kwargs[field.name] = _strict(hints[field.name], item)
    for field in fields.values():
        if field.name not in kwargs and field.default is dataclasses.MISSING \
                and field.default_factory is dataclasses.MISSING:
            raise Decline  # a required key is missing: pydantic words it
    try:
        return cls(**kwargs)
    except (ValueError, TypeError):
        raise Decline from None
