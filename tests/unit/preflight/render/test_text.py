"""The text renderer's line wrapping: its fast path cuts every paragraph exactly as textwrap does."""

from __future__ import annotations

import random
import textwrap

from rabbitmq_preflight.render.text import wrap

INDENTS = [("", ""), ("      ", "      "), ("      fix: ", "           "), ("  \x1b[1;31mERROR    \x1b[0m ", "      ")]
# spaces and words, plus everything textwrap treats specially: hyphens, em dashes, tabs, newlines, other
# whitespace (NBSP, em space, U+001C, NEL, ideographic space), runs of spaces, words wider than a line
ALPHABETS = ["abcde xyz-—.,:@/'\"`\t\n\xa0\u2003\x1c\x85\u3000é", "abc ", "ab c  ", "abcdefghij ", "a-b c",
             "abcdefghijklmnopqrstuvwxyz0123456789 "]


def test_wrap_cuts_every_paragraph_as_textwrap_does() -> None:
    rng = random.Random(7)
    for _ in range(30_000):
        chars = rng.choice(ALPHABETS)
        text = "".join(rng.choice(chars) for _ in range(rng.randint(0, rng.choice([5, 90, 100, 101, 300]))))
        first, rest = rng.choice(INDENTS)
        width = rng.choice([100, 40, 30])
        assert wrap(text, first, rest, width) == textwrap.wrap(
            text, width=width, initial_indent=first, subsequent_indent=rest), (text, first, width)


def test_wrap_of_real_messages_matches_textwrap() -> None:
    messages = [
        "rabbit@n1020: host name n1020 does not resolve on vm, this host (rabbitmqctl from here will fail)",
        "On vm, add this line to /etc/hosts: `127.100.4.1 n1020` (or publish n1020 in DNS); then `getent hosts "
        "n1020` must print it.",
        "classic-queue-unmirrored could not be checked: the management API is not configured: add a [management] "
        "section (user, password_file) to the inventory",
        "Make the missing fact observable (see the reason), then run again.",
        "x" * 120,
        "",
    ]
    for text in messages:
        for first, rest in INDENTS:
            assert wrap(text, first, rest) == textwrap.wrap(text, width=100, initial_indent=first,
                                                            subsequent_indent=rest)
