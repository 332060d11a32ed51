"""Reading the files a user names: regular files only, never more than a limit.

Every input file (inventory, facts, definitions, baseline, a password or cookie file, the daemon's
state) is read here. A FIFO given as any of them used to block forever (`open` waits for a writer),
and `/dev/zero` or a huge sparse file read until MemoryError. So: open with O_NONBLOCK (opening a
FIFO returns at once; symlinks are followed, as users expect), fstat the *opened* file (no race
between checking and reading), refuse anything but a regular file, refuse a file whose size is
over the limit without reading it, and read at most limit + 1 bytes (a file that grows, or a /proc
file that reports size 0, is still bounded).

This module is imported on the CLI's hot path: standard library only.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from rabbitmq_preflight.errors import UsageError

KiB = 1 << 10
MiB = 1 << 20

_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_CHUNK = 1 * MiB


class InputFileProblem(Exception):
    """Why a file cannot be read as input; `reason` completes '<path>: cannot read <what>: …'."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NotRegularFile(InputFileProblem):
    pass


class TooLarge(InputFileProblem):
    pass


class InputFileError(UsageError):
    """One line naming the file, what it should have been and what is wrong. `missing`: it does not
    exist (some callers treat that as 'nothing saved yet')."""

    def __init__(self, line: str, *, missing: bool = False) -> None:
        super().__init__(line)
        self.missing = missing


def file_kind(mode: int) -> str:
    """What a non-regular file is, in words."""
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode):
        return "a directory"
    return "not a regular file"


def _size(n: int) -> str:
    if n >= MiB and n % MiB == 0:
        return f"{n // MiB} MiB"
    if n >= KiB and n % KiB == 0:
        return f"{n // KiB} KiB"
    return f"{n} bytes"


def read_bounded(path: Path | str, limit: int) -> bytes:
    """The bytes of a regular file of at most `limit` bytes.

    Raises OSError (cannot open: missing, permission…), NotRegularFile or TooLarge. Never blocks on a
    FIFO and never reads more than limit + 1 bytes.
    """
    fd = os.open(path, _OPEN_FLAGS)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = file_kind(st.st_mode)
            raise NotRegularFile(f"is {kind}, not a regular file" if kind.startswith("a ") else kind)
        if st.st_size > limit:
            raise TooLarge(f"{st.st_size} bytes, larger than the {_size(limit)} limit")
        chunks: list[bytes] = []
        total = 0
        while total <= limit:
            chunk = os.read(fd, min(_CHUNK, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > limit:
            raise TooLarge(f"larger than the {_size(limit)} limit")
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_input_file(path: Path | str, *, what: str, limit: int) -> bytes:
    """The bytes of an input file, or InputFileError: '<path>: cannot read <what>: <why>'."""
    try:
        return read_bounded(path, limit)
    except FileNotFoundError as exc:
        raise InputFileError(f"{path}: cannot read {what}: {exc.strerror}", missing=True) from None
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read {what}: {exc.strerror or type(exc).__name__}") from None
    except InputFileProblem as problem:
        raise InputFileError(f"{path}: cannot read {what}: {problem.reason}") from None


def read_input_text(path: Path | str, *, what: str, limit: int) -> str:
    """An input file as UTF-8 text, or InputFileError ('not UTF-8 text' included)."""
    raw = read_input_file(path, what=what, limit=limit)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputFileError(f"{path}: {what} is not UTF-8 text (byte {exc.start})") from None


__all__ = [
    "InputFileError", "InputFileProblem", "NotRegularFile", "TooLarge", "file_kind", "read_bounded",
    "read_input_file", "read_input_text",
]
