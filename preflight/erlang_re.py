"""Erlang `re` patterns, as RabbitMQ matches policy patterns, translated to Python `re`.

RabbitMQ tests a policy against a queue with `re:run(Name, Pattern, [{capture, none}])`: no
`unicode` option, so pattern and name are byte strings, `.` is one byte, and character classes
come from PCRE's Latin-1 tables. We therefore match a translated *str* pattern against the name's
UTF-8 bytes decoded as Latin-1 (one character per byte), and rewrite every construct whose meaning
differs. Verified against `erl` (OTP 25, PCRE 8.45) on the lab machine; see tests/unit/test_policy.py.

Differences that change which queues a policy covers, and what we do:

- bytes, not code points: `^.$` does not match "é" (two bytes) → the Latin-1 view of the bytes.
- `\\w`, `\\W`, `\\b`, `\\B` and POSIX classes use Latin-1 tables (`\\w` includes ª µ º À-ÿ except
  × ÷; Python's `\\w` also matches ² ³ ¹ ¼ ½ ¾) → explicit classes.
- `\\s` is `[\\t\\n\\v\\f\\r ]` (Python adds \\x1c-\\x1f, \\x85, \\xa0); `\\h`, `\\v`, `\\N` are classes in
  PCRE (`\\v` is one character in Python) → explicit classes.
- `\\z` does not exist before Python 3.14; `\\Z` is "end, or before a final newline" in PCRE but
  "end" in Python → `\\Z` and `(?=\\n?\\Z)`.
- `{,n}` and any `{` that is not `{n}`, `{n,}`, `{n,m}` are literals in PCRE 8; Python reads `{,n}`
  as a quantifier → escaped.
- unknown letter escapes (`\\i`, `\\y`) are literals in PCRE 8 and errors in Python → literals.
- `\\x{hh}`, `\\o{ooo}`, `\\e`, `\\cX`, `\\0oo`, `\\Q…\\E` spellings → Python spellings.
- inline options `(?i)` anywhere: PCRE scopes them to the rest of the group, every later
  alternative included; Python 3.11 accepts them only at the start → scoped `(?i:…)` per branch.
- named groups `(?<n>…)`, `(?'n'…)` → non-capturing (we never capture).

Rejected with `UntranslatablePattern` (the caller treats the policy as "cannot be judged"):
backreferences, recursion and subroutine calls, conditionals, callouts, `(*VERB)`s, `\\K` `\\G` `\\R`
`\\X` `\\C` `\\p` `\\P` `\\g` `\\k`, options other than i/m/s, and whatever Python's `re` refuses
(variable-width look-behind). Patterns that Erlang itself refuses may still translate: RabbitMQ
never stores them, so no live policy has one.

PCRE's match limit: `re:run` gives up after 10,000,000 internal steps per start position and then
answers *no match* (RabbitMQ passes no `report_errors`): on 3.10.8 `(?:a+)+b|c` does not match 22
`a`s and a `c`. Python's `re` would backtrack for minutes. The translated pattern is therefore run
by the `regex` module (same syntax, same verdicts on the translation) under a time budget per name
(`MATCH_BUDGET_S`); when the budget runs out, or when a pattern that can backtrack exponentially
(`risky`: a repeated group holding a repeat or an alternation, or three unbounded repeats) matches
a name longer than `RISKY_NAME_LIMIT` bytes — where PCRE may have stopped first — the verdict is
`None`: undecidable, never a match and never a hang.
"""

from __future__ import annotations

import re
import re._constants as _sre_constants  # type: ignore[import-not-found]  # the parser `re` itself uses
import re._parser as _sre_parser  # type: ignore[import-not-found]
import warnings
from dataclasses import dataclass
from typing import Any

MATCH_BUDGET_S = 0.02  # per (pattern, name); PCRE's limit takes ~0.15 s of `re` time on the lab's machine
NAME_LIMIT = 255  # bytes: RabbitMQ refuses longer queue names
RISKY_NAME_LIMIT = 12  # bytes: below this, even 3^n backtracking stays far under PCRE's 10,000,000 steps

_WORD = "0-9A-Za-z_\xaa\xb5\xba\xc0-\xd6\xd8-\xf6\xf8-\xff"
_SPACE = "\\t\\n\\x0b\\f\\r "
_HSPACE = "\\t \\xa0"
_VSPACE = "\\n\\x0b\\f\\r\\x85"
_POSIX = {
    "alpha": "A-Za-z\xaa\xb5\xba\xc0-\xd6\xd8-\xf6\xf8-\xff",
    "alnum": "0-9A-Za-z\xaa\xb5\xba\xc0-\xd6\xd8-\xf6\xf8-\xff",
    "digit": "0-9",
    "xdigit": "0-9A-Fa-f",
    "upper": "A-Z\xc0-\xd6\xd8-\xde",
    "lower": "a-z\xaa\xb5\xba\xdf-\xf6\xf8-\xff",
    "space": _SPACE,
    "blank": "\\t ",
    "cntrl": "\\x00-\\x1f\\x7f-\\x9f",
    "punct": "!-/:-@\\[-`{-~\xa0-\xa9\xab-\xb4\xb6-\xb9\xbb-\xbf\xd7\xf7",
    "graph": "!-~\xa0-\xff",
    "print": " -~\xa0-\xff",
    "word": _WORD,
    "ascii": "\\x00-\\x7f",
}
_WORD_BOUNDARY = f"(?:(?<=[{_WORD}])(?![{_WORD}])|(?<![{_WORD}])(?=[{_WORD}]))"
_NOT_WORD_BOUNDARY = f"(?:(?<=[{_WORD}])(?=[{_WORD}])|(?<![{_WORD}])(?![{_WORD}]))"
_ESCAPE_CLASSES = {
    "w": f"[{_WORD}]", "W": f"[^{_WORD}]", "s": f"[{_SPACE}]", "S": f"[^{_SPACE}]",
    "h": f"[{_HSPACE}]", "H": f"[^{_HSPACE}]", "v": f"[{_VSPACE}]", "V": f"[^{_VSPACE}]",
    "d": "[0-9]", "D": "[^0-9]", "N": "[^\\n]",
}
_CLASS_ESCAPES = {"w": _WORD, "s": _SPACE, "h": _HSPACE, "v": _VSPACE, "d": "0-9"}
_CONTROL = {"a": "\x07", "e": "\x1b", "f": "\x0c", "n": "\n", "r": "\r", "t": "\t"}
_REJECTED = {
    "K": "\\K (reset match start)", "G": "\\G (first-match anchor)", "R": "\\R (any newline)",
    "X": "\\X (grapheme cluster)", "C": "\\C (one code unit)", "p": "\\p{…} (Unicode property)",
    "P": "\\P{…} (Unicode property)", "g": "\\g (backreference or subroutine)",
    "k": "\\k (named backreference)", "L": "\\L", "l": "\\l", "U": "\\U", "u": "\\u",
}
_QUANTIFIER = re.compile(r"\{(\d+)(,(\d*))?\}")
_OPTION_SET = re.compile(r"\(\?([a-zA-Z]*)(?:-([a-zA-Z]*))?\)")
_OPTION_GROUP = re.compile(r"\(\?([a-zA-Z]*)(?:-([a-zA-Z]*))?:")
_NAMED_GROUP = re.compile(r"\(\?(?:<([A-Za-z_]\w*)>|'([A-Za-z_]\w*)'|P<([A-Za-z_]\w*)>)")
_SUPPORTED_OPTIONS = set("ims")
_MAX_REPEAT = 65535  # PCRE 8's limit; Erlang refuses larger counts
_LITERAL_METACHARS = set("\\^$.|?*+()[]{}")


class UntranslatablePattern(ValueError):
    """The pattern uses a construct whose Erlang meaning we cannot reproduce in Python."""


def latin1_view(name: str) -> str:
    """The string Erlang's `re` sees: the UTF-8 bytes of `name`, one character per byte."""
    return name if name.isascii() else name.encode("utf-8", "surrogatepass").decode("latin-1")


@dataclass(frozen=True, slots=True)
class ErlangPattern:
    """A translated pattern, with what is cheaper than a regex call when the shape allows it.

    `prefix`: the literal the pattern is anchored on (`^orders\\.` → "orders."), in the Latin-1 view;
    `prefix_only`: the prefix alone decides (`^orders\\.` or `^orders\\..*`);
    `exact`: the pattern is `^literal$` (the name is the literal, or the literal and a newline);
    `match_all`: every name matches (``, `.*`, `^`, `^.*`).
    """

    source: str
    python: str
    regex: re.Pattern[str]
    bounded: Any  # regex.Pattern[str]: the same pattern, run under a time budget
    prefix: str | None = None
    prefix_only: bool = False
    exact: bool = False
    match_all: bool = False
    risky: bool = False

    def search(self, view: str) -> bool | None:
        """Whether the pattern matches a name given in its Latin-1 view; None when undecidable."""
        if self.match_all:
            return True
        if self.prefix is not None:
            if self.exact:
                return view in (self.prefix, self.prefix + "\n")
            if not view.startswith(self.prefix):
                return False
            if self.prefix_only:
                return True
        return self.evaluate(view)

    def evaluate(self, view: str) -> bool | None:
        """The regular expression alone, under the budget: True, False, or None (undecidable)."""
        if not self.risky and len(view) <= NAME_LIMIT:
            # at most two unbounded repeats, none nested, on a name RabbitMQ accepts: polynomial and
            # small, so Python's own (faster) engine answers, as it always did
            return self.regex.search(view) is not None
        try:
            found = self.bounded.search(view, timeout=MATCH_BUDGET_S) is not None
        except TimeoutError:
            return None
        if found and self.risky and len(view) > RISKY_NAME_LIMIT:
            return None  # PCRE may have hit its match limit before this match: it would say "no match"
        return found


_MATCH_ALL = {"", ".*", "^", "^.*", ".*?", "^.*?"}


def compile_erlang(pattern: str) -> ErlangPattern:
    """Translate and compile an Erlang policy pattern, or raise UntranslatablePattern."""
    import regex  # here, not at the top: `preflight rules` / `explain` load this module but compile nothing

    source = latin1_view(pattern)
    python = _Translator(source).run()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compiled = re.compile(python)
            bounded = regex.compile(python, regex.VERSION0)
    except (re.error, regex.error, OverflowError, RecursionError) as exc:
        raise UntranslatablePattern(f"Python's re refuses the translation: {exc}") from None
    prefix, rest = _anchored_prefix(source)
    return ErlangPattern(
        source=pattern, python=python, regex=compiled, bounded=bounded, prefix=prefix,
        prefix_only=prefix is not None and rest in ("", ".*"),
        exact=prefix is not None and rest == "$",
        match_all=source in _MATCH_ALL,
        risky=_risky(python),
    )


_REPEATS = {_sre_constants.MAX_REPEAT, _sre_constants.MIN_REPEAT, _sre_constants.POSSESSIVE_REPEAT}


def _risky(python: str) -> bool:
    """The pattern can backtrack exponentially (or as n^3 and worse) on some name, as PCRE would."""
    unbounded = 0

    def walk(items: Any, repeated: bool) -> bool:
        nonlocal unbounded
        for op, av in items:
            if op in _REPEATS:
                _low, high, sub = av
                if high > 1 and repeated:
                    return True
                if high == _sre_constants.MAXREPEAT or high > 255:
                    unbounded += 1
                if walk(sub, repeated or high > 1):
                    return True
            elif op is _sre_constants.BRANCH:
                if repeated or any(walk(branch, repeated) for branch in av[1]):
                    return True
            elif op in (_sre_constants.SUBPATTERN, _sre_constants.ATOMIC_GROUP):
                if walk(av[-1] if op is _sre_constants.SUBPATTERN else av, repeated):
                    return True
            elif op in (_sre_constants.ASSERT, _sre_constants.ASSERT_NOT) and walk(av[1], repeated):
                return True
        return False

    try:
        nested = walk(_sre_parser.parse(python), False)
    except Exception:  # the pattern compiled, so this cannot happen; if it does, be careful
        return True
    return nested or unbounded >= 3


def _anchored_prefix(source: str) -> tuple[str | None, str]:
    """`^literal…` → (literal, remainder); (None, "") when the pattern has no usable prefix."""
    if not source.startswith("^") or _top_level_alternation(source):
        return None, ""
    i, out = 1, []
    while i < len(source):
        ch = source[i]
        if ch == "\\" and i + 1 < len(source) and not source[i + 1].isalnum() and source[i + 1].isascii():
            out.append(source[i + 1])
            i += 2
        elif ch not in _LITERAL_METACHARS:
            out.append(ch)
            i += 1
        else:
            break
    if i < len(source) and source[i] in "?*{" and out:
        out.pop()  # the last literal is optional or repeated: not part of every match
        return ("".join(out) or None), "<quantified>"
    return ("".join(out) or None), source[i:]


def _top_level_alternation(source: str) -> bool:
    """A `|` outside every group and class (`^a|b` is not anchored as a whole). Conservative: \\Q…\\E
    or an unterminated class count as "maybe"."""
    if "\\Q" in source:
        return True
    depth, i = 0, 0
    while i < len(source):
        ch = source[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "[":
            m = _CLASS_BODY.match(source, i)
            if m is None:
                return True
            i = m.end()
            continue
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "|" and depth <= 0:
            return True
        i += 1
    return False


_CLASS_BODY = re.compile(r"\[\^?\]?(?:\[:\^?[a-z]+:\]|\\.|[^\]\\])*\]", re.DOTALL)


class _Translator:
    """One pass over the pattern; `levels` holds, per open group, the options set inside it."""

    def __init__(self, source: str) -> None:
        self.src = source
        self.i = 0
        self.out: list[str] = []
        self.levels: list[list[str]] = [[]]

    def run(self) -> str:
        while self.i < len(self.src):
            self._step()
        if len(self.levels) != 1:
            raise UntranslatablePattern("unbalanced parentheses")
        self.out.append(")" * len(self.levels[0]))
        return "".join(self.out)

    def _step(self) -> None:
        ch = self.src[self.i]
        if ch == "\\":
            self.out.append(self._escape())
        elif ch == "[":
            self.out.append(self._char_class())
        elif ch == "(":
            self._open_group()
        elif ch == ")":
            if len(self.levels) == 1:
                raise UntranslatablePattern("unbalanced parentheses")
            self.out.append(")" * len(self.levels.pop()) + ")")
            self.i += 1
        elif ch == "|":
            scoped = self.levels[-1]
            self.out.append(")" * len(scoped) + "|" + "".join(f"(?{flags}:" for flags in scoped))
            self.i += 1
        elif ch == "{":
            self.out.append(self._brace())
        elif ch == "}":
            self.out.append("\\}")
            self.i += 1
        else:
            self.out.append(ch if ch in ".^$*+?" else re.escape(ch))
            self.i += 1

    def _brace(self) -> str:
        m = _QUANTIFIER.match(self.src, self.i)
        if m is None:
            self.i += 1
            return "\\{"
        counts = [int(m.group(1))] + ([int(m.group(3))] if m.group(3) else [])
        if max(counts) > _MAX_REPEAT:
            raise UntranslatablePattern(f"repeat count above {_MAX_REPEAT}")
        self.i = m.end()
        return m.group(0)

    def _open_group(self) -> None:
        src, i = self.src, self.i
        if src.startswith("(?#", i):
            end = src.find(")", i)
            if end < 0:
                raise UntranslatablePattern("unterminated comment")
            self.i = end + 1
            return
        if (m := _OPTION_SET.match(src, i)) is not None:
            flags = self._options(m.group(1), m.group(2))
            if flags:
                self.out.append(f"(?{flags}:")
                self.levels[-1].append(flags)
            self.i = m.end()
            return
        if (m := _OPTION_GROUP.match(src, i)) is not None:
            flags = self._options(m.group(1), m.group(2))
            self.out.append(f"(?{flags}:" if flags else "(?:")
        elif (m := _NAMED_GROUP.match(src, i)) is not None:
            self.out.append("(?:")
        elif src.startswith(("(?:", "(?=", "(?!", "(?<=", "(?<!", "(?>"), i):
            m = re.compile(r"\(\?(?::|=|!|<=|<!|>)").match(src, i)
            assert m is not None
            self.out.append(m.group(0))
        elif src.startswith(("(?", "(*"), i):
            raise UntranslatablePattern(f"unsupported group syntax at {src[i:i + 4]!r}")
        else:
            self.out.append("(")
            self.i += 1
            self.levels.append([])
            return
        self.i = m.end()
        self.levels.append([])

    @staticmethod
    def _options(on: str, off: str | None) -> str:
        letters = set(on) | set(off or "")
        if not letters <= _SUPPORTED_OPTIONS:
            raise UntranslatablePattern(f"unsupported option(s) {''.join(sorted(letters - _SUPPORTED_OPTIONS))}")
        return on + (f"-{off}" if off else "")

    def _escape(self) -> str:
        src = self.src
        if self.i + 1 >= len(src):
            raise UntranslatablePattern("trailing backslash")
        ch = src[self.i + 1]
        self.i += 2
        if ch in _ESCAPE_CLASSES:
            return _ESCAPE_CLASSES[ch]
        simple = {"b": _WORD_BOUNDARY, "B": _NOT_WORD_BOUNDARY, "A": "\\A", "z": "\\Z", "Z": "(?=\\n?\\Z)", "E": ""}
        if ch in simple:
            return simple[ch]
        if ch == "Q":
            return self._quoted()
        if ch in "123456789":
            raise UntranslatablePattern("backreferences are not supported")
        char = self._char_escape(ch, in_class=False)
        return re.escape(char)

    def _quoted(self) -> str:
        end = self.src.find("\\E", self.i)
        text = self.src[self.i:] if end < 0 else self.src[self.i:end]
        self.i = len(self.src) if end < 0 else end + 2
        return re.escape(text)

    def _char_escape(self, ch: str, *, in_class: bool) -> str:
        """A backslash escape that stands for one character (after `\\` and `ch` were consumed)."""
        if ch in _CONTROL:
            return _CONTROL[ch]
        if ch == "x":
            return chr(self._hex())
        if ch == "o":
            return chr(self._braced(8, "\\o"))
        if ch == "0" or (in_class and ch in "1234567"):
            return chr(self._octal(ch))
        if ch == "c":
            if self.i >= len(self.src) or not (" " <= self.src[self.i] <= "~"):
                raise UntranslatablePattern("\\c must be followed by a printable ASCII character")
            self.i += 1
            return chr(ord(self.src[self.i - 1].upper()) ^ 0x40)
        if ch in _REJECTED:
            raise UntranslatablePattern(f"{_REJECTED[ch]} has no Python equivalent")
        return ch  # other letters, digits 8-9 in classes, punctuation: the character itself

    def _hex(self) -> int:
        if self.i < len(self.src) and self.src[self.i] == "{":
            return self._braced(16, "\\x")
        m = re.compile(r"[0-9A-Fa-f]{0,2}").match(self.src, self.i)
        assert m is not None
        self.i = m.end()
        return int(m.group(0) or "0", 16)

    def _braced(self, base: int, what: str) -> int:
        digits = "0-9A-Fa-f" if base == 16 else "0-7"
        m = re.compile(rf"\{{([{digits}]+)\}}").match(self.src, self.i)
        if m is None:
            raise UntranslatablePattern(f"malformed {what}{{…}}")
        value = int(m.group(1), base)
        if value > 0xFF:
            raise UntranslatablePattern(f"{what}{{{m.group(1)}}} is above \\xff (not allowed without unicode)")
        self.i = m.end()
        return value

    def _octal(self, first: str) -> int:
        m = re.compile(r"[0-7]{0,2}").match(self.src, self.i)
        assert m is not None
        self.i = m.end()
        return int(first + m.group(0), 8) & 0xFF

    def _char_class(self) -> str:
        src = self.src
        self.i += 1
        negate = src.startswith("^", self.i)
        self.i += negate
        items: list[str] = []
        first = True
        while True:
            if self.i >= len(src):
                raise UntranslatablePattern("unterminated character class")
            ch = src[self.i]
            if ch == "]" and not first:
                self.i += 1
                break
            first = False
            items.append(self._class_item())
        return "[" + ("^" if negate else "") + "".join(items) + "]"

    def _class_item(self) -> str:
        """One member of a bracket class: a POSIX class, a shorthand, a character or a range."""
        src = self.src
        m = re.compile(r"\[:(\^?)([a-z]+):\]").match(src, self.i)
        if m is not None:
            if m.group(2) not in _POSIX:
                raise UntranslatablePattern(f"unknown POSIX class [:{m.group(2)}:]")
            if m.group(1):
                raise UntranslatablePattern("negated POSIX class inside a bracket class")
            self.i = m.end()
            return _POSIX[m.group(2)]
        start = self._class_char()
        if isinstance(start, _Set):
            return start.text
        if src.startswith("-", self.i) and self.i + 1 < len(src) and src[self.i + 1] != "]":
            self.i += 1
            end = self._class_char()
            if isinstance(end, _Set):
                raise UntranslatablePattern("a range cannot end in a class shorthand")
            if ord(end) < ord(start):
                raise UntranslatablePattern("range out of order")
            return f"{_class_literal(start)}-{_class_literal(end)}"
        return _class_literal(start)

    def _class_char(self) -> str | _Set:
        src = self.src
        ch = src[self.i]
        if ch != "\\":
            self.i += 1
            return ch
        if self.i + 1 >= len(src):
            raise UntranslatablePattern("trailing backslash")
        esc = src[self.i + 1]
        self.i += 2
        if esc in _CLASS_ESCAPES:
            return _Set(_CLASS_ESCAPES[esc])
        if esc in "WSHVD":
            raise UntranslatablePattern(f"negated shorthand \\{esc} inside a bracket class")
        if esc == "b":
            return "\x08"
        if esc in "NQE":
            raise UntranslatablePattern(f"\\{esc} inside a bracket class")
        return self._char_escape(esc, in_class=True)


@dataclass(frozen=True, slots=True)
class _Set:
    """A shorthand class (`\\w`, `\\d`…) expanded inside brackets."""

    text: str


def _class_literal(ch: str) -> str:
    return "\\" + ch if ch in "\\]^-[&~|" else ("\\n" if ch == "\n" else ch)
