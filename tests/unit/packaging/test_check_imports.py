"""`preflight check` never imports pydantic (start-up speed: issue 11); `preflight lint` still works.

Run through the console entry (`[project.scripts] preflight = rabbitmq_preflight.entry:main`) in a fresh
interpreter, then the interpreter reports what got imported.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.conftest import ROOT

MARK = "IMPORTS: "
SCRIPT = textwrap.dedent("""\
    import gc, json, sys
    sys.argv = ["preflight", *json.loads(sys.argv[1])]
    from rabbitmq_preflight.entry import main
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code
    sys.stdout.flush()
    loaded = sorted(m for m in sys.modules if m.split(".")[0].startswith("pydantic"))
    sys.stderr.write("%s" + json.dumps({"code": code, "pydantic": "pydantic" in sys.modules, "loaded": loaded,
                                     "frozen_objects": gc.get_freeze_count()}) + "\\n")
    """) % MARK


def run_entry(*args: str) -> tuple[dict[str, object], str, str]:
    proc = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(args)], capture_output=True, text=True,
                          timeout=60, cwd=ROOT, env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1"})
    assert proc.returncode == 0, proc.stderr
    marks = [line for line in proc.stderr.splitlines() if line.startswith(MARK)]
    assert len(marks) == 1, proc.stderr
    return json.loads(marks[0][len(MARK):]), proc.stdout, proc.stderr


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_check_does_not_import_pydantic(tmp_path: Path) -> None:
    port = closed_port()
    inventory = tmp_path / "inventory.toml"
    inventory.write_text(
        '[cluster]\nname = "imports"\nprobe_timeout = 0.5\ndeadline = 2.0\n\n'
        f'[[nodes]]\nname = "rabbit@localhost"\naddress = "127.0.0.1"\namqp_port = {port}\nepmd_port = {port}\n'
        f"management_port = {port}\n")
    result, out, err = run_entry("check", "-i", str(inventory), "--format", "json")
    assert result["pydantic"] is False and result["loaded"] == [], err
    report = json.loads(out)
    assert report["schema"] == "preflight.report/v1" and report["cluster"] == "imports"
    assert result["code"] == 1  # nothing listens: the node's ports are refused, and that is a finding
    assert any(f["node"] == "rabbit@localhost" and f["severity"] in ("error", "critical")
               for f in report["findings"]), report["findings"]


def test_a_bad_inventory_still_gets_pydantic_wording(tmp_path: Path) -> None:
    """The fast path declines, pydantic is imported and words the error: exit 2, one line."""
    inventory = tmp_path / "inventory.toml"
    inventory.write_text('[[nodes]]\nname = "rabbit@localhost"\namqp_port = 0\n')
    result, out, err = run_entry("check", "-i", str(inventory), "--format", "json")
    assert result["code"] == 2 and result["pydantic"] is True and out == ""
    assert f"{inventory}: nodes[0].amqp_port: Input should be greater than or equal to 1" in err


def test_lint_runs(tmp_path: Path) -> None:
    conf = tmp_path / "rabbitmq.conf"
    conf.write_text("cluster_formation.peer_discovery_backend = classic_config\n"
                    "cluster_formation.classic_config.nodes.1 = rabbit@rabbit1\n")
    result, out, err = run_entry("lint", str(conf), "--format", "json")
    assert result["code"] in (0, 1), err
    assert json.loads(out)["schema"] == "preflight.report/v1"


def test_the_last_garbage_collection_is_skipped_after_a_command(tmp_path: Path) -> None:
    """entry.main freezes the heap once the command is done, so shutdown's full collection walks none
    of the run's objects (it cost ~30 ms of every check)."""
    result, _, _ = run_entry("check", "--help")
    assert result["code"] == 0
    assert isinstance(result["frozen_objects"], int) and result["frozen_objects"] > 1000
