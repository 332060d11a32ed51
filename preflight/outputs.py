"""Where reports and facts go: a file named on the command line, or standard output.

`write_text(path, text)` replaces a regular file atomically: a new file is created beside it with
`O_EXCL|O_NOFOLLOW` (`tempfile.mkstemp` in the target's directory, so a planted `<report>.tmp` symlink
is never followed) and renamed over the target. A target that exists and is not a regular file — a
character device such as /dev/null or /dev/stdout's terminal, a FIFO a reader waits on — is written in
place, never renamed over (root writing `--report json:/dev/null` must not replace the device node).

`write_stdout(text)` writes the main output. A reader that went away (`| head -1`) stays the quiet
BrokenPipeError that `run_guarded` turns into 141; a closed (`>&-`) or full (`/dev/full`) stdout is a
`UsageError`: one line, exit 2.

Text is encoded with `backslashreplace`: a lone surrogate or any character the encoding cannot carry
(a queue name from the API) is written as its escape instead of crashing the renderer's caller.
Standard library only, imported lazily where a module is heavy: this sits on the CLI's start-up path.
"""

from __future__ import annotations

import codecs
import contextlib
import errno
import io
import math
import os
import stat
import sys
from typing import TYPE_CHECKING, Any

from rabbitmq_preflight.errors import UsageError

if TYPE_CHECKING:
    from pathlib import Path

    from rabbitmq_preflight.record import Record


def encode(text: str, encoding: str | None = "utf-8") -> bytes:
    return text.encode(encoding or "utf-8", errors="backslashreplace")


def json_safe(value: Any) -> Any:
    """JSON data any strict parser accepts: NaN and ±Infinity (which `json.dumps` would write as bare
    `NaN`, invalid JSON) become null, and lone surrogates (which UTF-8 cannot carry) their escapes."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "backslashreplace").decode("utf-8")
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {json_safe(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


LARGE_DOCUMENT = 40_000  # records (findings + checks, or node views × 20) from which pydantic writes faster


def model_json(model: Record, *, records: int = 0) -> str:
    """A report or facts document as JSON (indented by 2, UTF-8 as is), the same bytes either way.

    Small documents (every check of a real cluster) are dumped here: importing pydantic and building
    its serializer costs ~0.4 s, most of a check. From about `LARGE_DOCUMENT` records (a report of
    ~2,000 nodes, ~18 MB) pydantic's compiled serializer pays for itself: a 10,000-node report (80 MB)
    takes ~1 s with it and ~2.5 s here. NaN becomes null; a lone surrogate from a peer makes pydantic
    refuse and our writer decline, and then the data is sanitized first (the surrogate escaped)."""
    from rabbitmq_preflight.render.indented_json import NotPlain, dumps_indented

    if records >= LARGE_DOCUMENT:
        from pydantic_core import PydanticSerializationError

        from rabbitmq_preflight.record import adapter

        try:
            return adapter(type(model)).dump_json(model, indent=2, by_alias=True).decode("utf-8")
        except PydanticSerializationError:
            pass
    data = model.model_dump(mode="json", by_alias=True)
    try:
        return dumps_indented(data, ensure_ascii=False)
    except NotPlain:
        import json

        return json.dumps(json_safe(data), indent=2, ensure_ascii=False, allow_nan=False)


def write_text(path: Path, text: str) -> None:
    """Write a report or facts file; a path we cannot write is the user's to fix: exit 2."""
    data = encode(text)
    try:
        try:
            existing: os.stat_result | None = os.stat(path)
        except FileNotFoundError:
            existing = None
        if existing is not None and stat.S_ISDIR(existing.st_mode):
            raise UsageError(f"cannot write {path}: it is a directory")
        if existing is not None and not stat.S_ISREG(existing.st_mode):
            _write_in_place(path, data)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        _replace_atomically(path, data, existing)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or type(exc).__name__}") from None


def _replace_atomically(path: Path, data: bytes, existing: os.stat_result | None) -> None:
    import tempfile  # here, not at the top: `preflight rules` writes only to stdout

    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # O_EXCL|O_NOFOLLOW
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            # mkstemp makes 0600; give the file the mode an ordinary create (or the file it replaces) has
            os.fchmod(out.fileno(), stat.S_IMODE(existing.st_mode) if existing else 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _write_in_place(path: Path, data: bytes) -> None:
    """A device or FIFO: open it for writing as it is (no create, no truncate, no rename)."""
    flags = os.O_WRONLY | os.O_NOCTTY | os.O_NONBLOCK  # a FIFO with no reader: ENXIO, not a hang
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            raise UsageError(f"cannot write {path}: a FIFO with no reader") from None
        raise
    try:
        os.set_blocking(fd, True)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def encodable_streams() -> None:
    """Under a non-UTF-8 locale (LC_ALL=C without Python's UTF-8 mode) stdout is ASCII: a report's
    '—' or a peer's non-ASCII name is printed escaped instead of ending the run (exit 3)."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper) and codecs.lookup(stream.encoding).name != "utf-8":
            stream.reconfigure(errors="backslashreplace")


def write_stdout(text: str) -> None:
    """The main output, flushed; a closed or full stdout is a usage error (exit 2), not a crash."""
    stream = sys.stdout
    if stream is None:  # started with `>&-`: Python leaves sys.stdout None
        raise UsageError("cannot write the output: standard output is closed")
    try:
        buffer = getattr(stream, "buffer", None)
        if buffer is not None:
            stream.flush()
            buffer.write(encode(text, getattr(stream, "encoding", None)))
            buffer.flush()
        else:
            stream.write(encode(text, getattr(stream, "encoding", None)).decode(stream.encoding or "utf-8"))
            stream.flush()
    except BrokenPipeError:
        raise
    except (OSError, ValueError) as exc:  # ValueError: the stream was closed under us
        _detach_stdout()
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "it is closed"
        raise UsageError(f"cannot write the output to standard output: {reason}") from None


def _detach_stdout() -> None:
    """Point fd 1 at /dev/null so the interpreter's last flush of what could not be written stays silent."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass
