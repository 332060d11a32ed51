"""A small reader for Erlang terms as RabbitMQ writes them: advanced.config, rabbitmq.config, enabled_plugins.

`file:consult/1` reads a sequence of terms, each ended by a dot. We read the subset configuration
files use — atoms (bare and quoted), strings, binaries (`<<"...">>`), integers (with `16#ff` and `$c`
forms), floats, tuples, lists (with a `|` tail), `%` comments — and give every tuple and list the line
it starts on, so a finding can point into the file. Anything else (funs, records, macros, maps) is
a `TermSyntaxError` with the line: configuration files do not hold code.
"""

from __future__ import annotations

from rabbitmq_preflight.record import lean

MAX_DEPTH = 200  # configs nest a dozen levels; a deeper file is hostile, not a config


class TermSyntaxError(ValueError):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.message = message


@lean(frozen=True)
class Atom:
    """An Erlang atom."""

    name: str

    def __str__(self) -> str:
        return self.name


@lean(frozen=True)
class Binary:
    """An Erlang binary (`<<"text">>`)."""

    text: str


@lean(frozen=True)
class ETuple:
    """An Erlang tuple, with the line it starts on."""

    items: tuple[Term, ...]
    line: int


@lean(frozen=True)
class EList:
    """An Erlang list (an improper one keeps its tail), with the line it starts on."""

    items: tuple[Term, ...]
    line: int
    tail: Term | None = None


Term = Atom | Binary | ETuple | EList | str | int | float

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "s": " ", "e": "\x1b", "b": "\b", "f": "\f", "v": "\v",
            "d": "\x7f", "\\": "\\", "'": "'", '"': '"'}
_ATOM_START = "abcdefghijklmnopqrstuvwxyzßàáâãäåæçèéêëìíîïðñòóôõöøùúûüýþÿ"


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.line = 1

    def fail(self, message: str) -> TermSyntaxError:
        return TermSyntaxError(self.line, message)

    def skip_space(self) -> None:
        text, n = self.text, len(self.text)
        while self.pos < n:
            c = text[self.pos]
            if c == "\n":
                self.line += 1
                self.pos += 1
            elif c in " \t\r\f\v":
                self.pos += 1
            elif c == "%":
                end = text.find("\n", self.pos)
                self.pos = n if end < 0 else end
            else:
                return

    def peek(self) -> str:
        self.skip_space()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def expect(self, char: str) -> None:
        if self.peek() != char:
            found = self.text[self.pos] if self.pos < len(self.text) else "end of file"
            raise self.fail(f"expected {char!r}, found {found!r}")
        self.pos += 1

    def quoted(self, quote: str) -> str:
        self.pos += 1  # the opening quote
        out: list[str] = []
        text, n = self.text, len(self.text)
        while True:
            if self.pos >= n:
                raise self.fail(f"unterminated {'string' if quote == chr(34) else 'quoted atom'}")
            c = text[self.pos]
            self.pos += 1
            if c == quote:
                return "".join(out)
            if c == "\n":
                self.line += 1
            if c == "\\":
                if self.pos >= n:
                    raise self.fail("unterminated escape")
                e = text[self.pos]
                self.pos += 1
                if e in "01234567":
                    digits = e
                    while len(digits) < 3 and self.pos < n and text[self.pos] in "01234567":
                        digits += text[self.pos]
                        self.pos += 1
                    out.append(chr(int(digits, 8)))
                else:
                    if e == "\n":
                        self.line += 1
                    out.append(_ESCAPES.get(e, e))
            else:
                out.append(c)

    def number(self) -> int | float:
        start = self.pos
        text, n = self.text, len(self.text)
        if text[self.pos] in "+-":
            self.pos += 1
        while self.pos < n and (text[self.pos].isdigit() or text[self.pos] == "_"):
            self.pos += 1
        if self.pos < n and text[self.pos] == "#":  # Base#Digits
            base_text = text[start:self.pos].replace("_", "")
            self.pos += 1
            dstart = self.pos
            while self.pos < n and (text[self.pos].isalnum() or text[self.pos] == "_"):
                self.pos += 1
            try:
                base = int(base_text.lstrip("+-"))
                value = int(text[dstart:self.pos].replace("_", ""), base)
            except ValueError:
                raise self.fail(f"bad number {text[start:self.pos]!r}") from None
            return -value if base_text.startswith("-") else value
        is_float = False
        if self.pos + 1 < n and text[self.pos] == "." and text[self.pos + 1].isdigit():
            is_float = True
            self.pos += 1
            while self.pos < n and (text[self.pos].isdigit() or text[self.pos] == "_"):
                self.pos += 1
            if self.pos < n and text[self.pos] in "eE":
                self.pos += 1
                if self.pos < n and text[self.pos] in "+-":
                    self.pos += 1
                while self.pos < n and text[self.pos].isdigit():
                    self.pos += 1
        raw = text[start:self.pos].replace("_", "")
        try:
            return float(raw) if is_float else int(raw)
        except ValueError:
            raise self.fail(f"bad number {raw!r}") from None

    def term(self, depth: int = 0) -> Term:
        if depth > MAX_DEPTH:
            raise self.fail("nested too deeply")
        c = self.peek()
        line = self.line
        if c == "{":
            self.pos += 1
            return ETuple(tuple(self.sequence("}", depth)), line)
        if c == "[":
            self.pos += 1
            if self.peek() == "]":
                self.pos += 1
                return EList((), line)
            items = [self.term(depth + 1)]
            tail: Term | None = None
            while True:
                nxt = self.peek()
                if nxt == ",":
                    self.pos += 1
                    items.append(self.term(depth + 1))
                elif nxt == "|":
                    self.pos += 1
                    tail = self.term(depth + 1)
                    self.expect("]")
                    break
                else:
                    self.expect("]")
                    break
            return EList(tuple(items), line, tail)
        if c == '"':
            parts = [self.quoted('"')]
            while self.peek() == '"':  # adjacent string literals concatenate
                parts.append(self.quoted('"'))
            return "".join(parts)
        if c == "'":
            return Atom(self.quoted("'"))
        if c == "<" and self.text.startswith("<<", self.pos):
            self.pos += 2
            if self.peek() == ">" and self.text.startswith(">>", self.pos):
                self.pos += 2
                return Binary("")
            if self.peek() != '"':
                raise self.fail("only string binaries (<<\"...\">>) are supported")
            text = self.quoted('"')
            if self.peek() == "/":  # <<"..."/utf8>>
                self.pos += 1
                self.skip_space()
                while self.pos < len(self.text) and self.text[self.pos].isalnum():
                    self.pos += 1
            if not (self.peek() == ">" and self.text.startswith(">>", self.pos)):
                raise self.fail("expected '>>' closing the binary")
            self.pos += 2
            return Binary(text)
        if c == "$":
            self.pos += 1
            if self.pos >= len(self.text):
                raise self.fail("character literal at end of file")
            ch = self.text[self.pos]
            self.pos += 1
            if ch == "\\" and self.pos < len(self.text):
                ch = _ESCAPES.get(self.text[self.pos], self.text[self.pos])
                self.pos += 1
            return ord(ch)
        if c and (c.isdigit() or (c in "+-" and self.pos + 1 < len(self.text) and self.text[self.pos + 1].isdigit())):
            return self.number()
        if c and c in _ATOM_START:
            start = self.pos
            while self.pos < len(self.text) and (self.text[self.pos].isalnum() or self.text[self.pos] in "_@"):
                self.pos += 1
            name = self.text[start:self.pos]
            if name == "fun":
                raise self.fail("funs are code, not configuration")
            return Atom(name)
        if not c:
            raise self.fail("unexpected end of file")
        if c.isupper() or c == "_":
            raise self.fail(f"variables are not allowed in a config file (found {c!r}...)")
        raise self.fail(f"unexpected {c!r}")

    def sequence(self, close: str, depth: int) -> list[Term]:
        if self.peek() == close:
            self.pos += 1
            return []
        items = [self.term(depth + 1)]
        while self.peek() == ",":
            self.pos += 1
            items.append(self.term(depth + 1))
        self.expect(close)
        return items


def consult(text: str) -> list[Term]:
    """Every dot-terminated term in `text`, as `file:consult/1` would return them."""
    reader = _Reader(text)
    terms: list[Term] = []
    while reader.peek():
        terms.append(reader.term())
        if reader.peek() != ".":
            found = reader.text[reader.pos] if reader.pos < len(reader.text) else "end of file"
            raise reader.fail(f"expected '.' ending the term, found {found!r}")
        reader.pos += 1
    return terms


def parse_term(text: str) -> Term:
    """One term without the final dot (schema datatypes, tests)."""
    reader = _Reader(text)
    term = reader.term()
    if reader.peek():
        raise reader.fail(f"unexpected {reader.text[reader.pos]!r} after the term")
    return term


def show(term: Term) -> str:
    """Erlang-ish text of a term, for messages and evidence."""
    if isinstance(term, Atom):
        return term.name
    if isinstance(term, Binary):
        return f'<<"{term.text}">>'
    if isinstance(term, str):
        return '"' + term.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(term, ETuple):
        return "{" + ", ".join(show(t) for t in term.items) + "}"
    if isinstance(term, EList):
        body = ", ".join(show(t) for t in term.items)
        return "[" + body + (f" | {show(term.tail)}" if term.tail is not None else "") + "]"
    return repr(term)


def proplist(term: Term) -> list[tuple[str, Term, int]]:
    """`[{key, value}, ...]` as (key, value, line); other elements are left out."""
    if not isinstance(term, EList):
        return []
    out = []
    for item in term.items:
        if isinstance(item, ETuple) and len(item.items) == 2 and isinstance(item.items[0], Atom):
            out.append((item.items[0].name, item.items[1], item.line))
    return out
