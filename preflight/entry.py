"""The `preflight` console script: `--version`, `rules` and `explain ID` without importing click.

click costs ~35-50 ms of a start-up budget of 50 ms. These three answer from data that is already
here (the version, the rule table), so their plainest spellings are answered directly, exactly as
the click command would answer them (same bytes, same exit code); every other spelling, every error
and every other command goes to `cli.main`, unchanged. A rule id that is unknown is such an error:
click's path prints it, so the wording lives in one place.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

FORMATS = ("text", "json")


def _version() -> str:
    from rabbitmq_preflight import __version__

    return f"preflight {__version__}\n"


def _rule_table(fmt: str) -> Callable[[], str | None]:
    def text() -> str | None:
        from rabbitmq_preflight.commands.rules_text import rule_table

        return rule_table(fmt)

    return text


def _explanation(rule_id: str) -> Callable[[], str | None]:
    def text() -> str | None:
        from rabbitmq_preflight.commands.rules_text import explanation

        return explanation(rule_id)

    return text


def fast_answer(argv: list[str]) -> Callable[[], str | None] | None:
    """What `rules` / `explain` print for the spellings answered without click, or None (click answers)."""
    if argv[:1] == ["rules"]:
        rest = argv[1:]
        if rest == []:
            return _rule_table("text")
        if len(rest) == 2 and rest[0] in ("--format", "-f") and rest[1] in FORMATS:
            return _rule_table(rest[1])
        if len(rest) == 1 and rest[0].startswith("--format=") and rest[0][len("--format="):] in FORMATS:
            return _rule_table(rest[0][len("--format="):])
        return None
    if len(argv) == 2 and argv[0] == "explain" and not argv[1].startswith("-"):
        return _explanation(argv[1])
    return None


def _write(text: str) -> int:
    """As the click commands write (commands.common.run_guarded around outputs.write_stdout)."""
    from rabbitmq_preflight.contract import EXIT_OK, EXIT_USAGE
    from rabbitmq_preflight.errors import UsageError
    from rabbitmq_preflight.outputs import write_stdout

    try:
        write_stdout(text)
    except UsageError as exc:  # a closed or full stdout
        for line in exc.lines:
            sys.stderr.write(f"preflight: error: {line}\n")
        sys.stderr.flush()
        return EXIT_USAGE
    except BrokenPipeError:  # `preflight rules | head -1`
        from rabbitmq_preflight.commands.common import quiet_broken_pipe

        return quiet_broken_pipe()
    return EXIT_OK


def main() -> None:
    if sys.argv[1:] == ["--version"]:  # as click's version option prints it
        try:
            if sys.stdout is not None:
                sys.stdout.write(_version())
                sys.stdout.flush()
        except BrokenPipeError:
            from rabbitmq_preflight.commands.common import quiet_broken_pipe

            sys.exit(quiet_broken_pipe())
        sys.exit(0)
    answer = fast_answer(sys.argv[1:])
    if answer is not None:
        from rabbitmq_preflight.outputs import encodable_streams

        encodable_streams()
        try:
            text = answer()
        except Exception:  # whatever it is, click's path reports it the way it always has
            text = None
        if text is not None:
            sys.exit(_write(text))
    from rabbitmq_preflight.cli import main as click_main

    try:
        click_main()
    finally:
        # Python's shutdown runs a last full garbage collection over every object the run made: ~30 ms
        # of a ~0.3 s check, for memory the OS reclaims anyway. Frozen objects are skipped by it; they
        # are still freed by reference counting, and every output is already written and flushed.
        import gc

        gc.freeze()
