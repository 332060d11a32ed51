"""Report and facts paths, and standard output: no write through a planted symlink, no device replaced
by a file, a closed or full stdout is one line and exit 2 (not an internal error)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from rabbitmq_preflight.errors import UsageError
from rabbitmq_preflight.outputs import write_text
from tests.conftest import PREFLIGHT, ROOT


def test_a_planted_tmp_symlink_is_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    report = tmp_path / "shared" / "report.json"
    report.parent.mkdir()
    (report.parent / "report.json.tmp").symlink_to(victim)
    write_text(report, "{}\n")
    assert victim.read_text() == "precious\n"
    assert report.read_text() == "{}\n" and not report.is_symlink()
    assert (report.parent / "report.json.tmp").is_symlink()  # left alone, not used
    assert sorted(p.name for p in report.parent.iterdir()) == ["report.json", "report.json.tmp"]


def test_a_new_report_gets_an_ordinary_mode_and_a_replaced_one_keeps_its_mode(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh.json"
    write_text(fresh, "a")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o666 & ~umask
    kept = tmp_path / "kept.json"
    kept.write_text("old")
    kept.chmod(0o640)
    write_text(kept, "new")
    assert kept.read_text() == "new" and stat.S_IMODE(kept.stat().st_mode) == 0o640


def test_a_fifo_target_is_written_in_place_not_replaced(tmp_path: Path) -> None:
    fifo = tmp_path / "report.fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # a reader waits on it (like `jq < fifo`)
    try:
        write_text(fifo, "report\n")
        assert os.read(reader, 100) == b"report\n"
    finally:
        os.close(reader)
    assert stat.S_ISFIFO(fifo.lstat().st_mode)


def test_a_fifo_without_a_reader_is_a_usage_error_not_a_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "report.fifo"
    os.mkfifo(fifo)
    with pytest.raises(UsageError, match="FIFO with no reader"):
        write_text(fifo, "report\n")
    assert stat.S_ISFIFO(fifo.lstat().st_mode)


def test_a_character_device_target_stays_a_device(tmp_path: Path) -> None:
    """`--report json:/dev/null` as root: a null device made here (never the real /dev/null)."""
    null = tmp_path / "null"
    try:
        os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        with open(null, "wb") as probe:
            probe.write(b"")
    except (PermissionError, OSError) as exc:
        pytest.skip(f"cannot make or open a device node here ({exc})")
    write_text(null, "report\n")
    assert stat.S_ISCHR(null.lstat().st_mode)
    assert [p.name for p in tmp_path.iterdir()] == ["null"]


def test_a_directory_or_an_unwritable_place_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="is a directory"):
        write_text(tmp_path, "x")
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(UsageError, match="cannot write"):
        write_text(blocker / "report.json", "x")


def run_cli(args: list[str], **popen: object) -> subprocess.CompletedProcess[str]:
    proc: subprocess.CompletedProcess[str] = subprocess.run(  # type: ignore[call-overload]
        [*PREFLIGHT, *args], text=True, stderr=subprocess.PIPE, cwd=ROOT, timeout=60, **popen)
    return proc


def test_a_closed_stdout_is_one_line_and_exit_2() -> None:
    proc = run_cli(["rules"], stdout=subprocess.DEVNULL, preexec_fn=lambda: os.close(1))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == "preflight: error: cannot write the output: standard output is closed\n"


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
def test_a_full_stdout_is_one_line_and_exit_2() -> None:
    with open("/dev/full", "w") as full:
        proc = run_cli(["explain", "VER001"], stdout=full)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "preflight: error: cannot write the output to standard output: No space left on device"]


def test_a_reader_that_goes_away_still_ends_quietly() -> None:
    proc = subprocess.Popen([*PREFLIGHT, "rules"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # before the command writes: its write meets EPIPE
    assert proc.wait(60) == 141
    assert proc.stderr.read() == b""


def test_report_paths_from_the_command_line(tmp_path: Path) -> None:
    """`check --facts … --report json:PATH` with a planted PATH.tmp symlink writes the report, not the victim."""
    from tests.factories import facts, node

    saved = tmp_path / "facts.json"
    saved.write_text(facts(node("rabbit@a")).to_json())
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (tmp_path / "r.json.tmp").symlink_to(victim)
    proc = run_cli(["check", "--facts", str(saved), "--report", f"json:{tmp_path / 'r.json'}"],
                   stdout=subprocess.DEVNULL)
    assert proc.returncode in (0, 1), proc.stderr
    assert victim.read_text() == "precious\n"
    assert (tmp_path / "r.json").read_text().startswith("{")


if sys.platform != "linux":  # pragma: no cover
    pytestmark = pytest.mark.skip("POSIX file types")
