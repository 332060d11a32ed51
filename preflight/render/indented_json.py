"""`json.dumps(value, indent=2, ensure_ascii=…, allow_nan=False)`, byte for byte, about 5 times faster.

With an indent, the standard library's encoder is its pure-Python one: a 10,000-node SARIF log (97 MB,
3.6 million values) took 8 s to write, plus 2.5 s for the `json_safe` pass before it. Here plain data
— dicts with `str` keys, lists, `str`, `int`, finite `float`, `bool`, `None`, exactly those types — is
written directly, each string by the encoder's own C quoting; anything else (NaN, a lone surrogate from
a peer, another type) raises `NotPlain`, and the caller takes the standard path with its sanitizing.
"""

from __future__ import annotations

import json.encoder
import math
from collections.abc import Callable
from typing import Any

_QUOTE = {True: json.encoder.encode_basestring_ascii,  # how json.dumps quotes strings, by ensure_ascii
          False: json.encoder.encode_basestring}
_int = int.__repr__
_float = float.__repr__


class NotPlain(ValueError):
    """The value holds something only the standard path writes (and sanitizes) correctly."""


def dumps_indented(value: Any, *, ensure_ascii: bool = True) -> str:
    out: list[str] = []
    _write(value, out, "\n", _QUOTE[ensure_ascii])
    return "".join(out)


def _text(value: str, quote: Callable[[str], str]) -> str:
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: json_safe rewrites it, the standard path must run
            raise NotPlain("lone surrogate") from None
    return quote(value)


def _write(value: Any, out: list[str], newline: str, quote: Callable[[str], str]) -> None:
    kind = type(value)
    if kind is str:
        out.append(_text(value, quote))
    elif kind is dict:
        if not value:
            out.append("{}")
            return
        inner = newline + "  "
        sep = "{" + inner
        for key, item in value.items():
            if type(key) is not str:
                raise NotPlain("a key that is not a string")
            out.append(sep)
            out.append(_text(key, quote))
            out.append(": ")
            _write(item, out, inner, quote)
            sep = "," + inner
        out.append(newline + "}")
    elif kind is list or kind is tuple:
        if not value:
            out.append("[]")
            return
        inner = newline + "  "
        sep = "[" + inner
        for item in value:
            out.append(sep)
            _write(item, out, inner, quote)
            sep = "," + inner
        out.append(newline + "]")
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif kind is int:
        out.append(_int(value))
    elif kind is float and math.isfinite(value):
        out.append(_float(value))
    else:
        raise NotPlain(f"a {kind.__name__}")
