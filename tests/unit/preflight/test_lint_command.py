"""`preflight lint`: exit codes, and reports whose findings point at the config file and line
(JSON `file`/`line`, SARIF physical locations, GitHub annotations)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from rabbitmq_preflight.cli import cli
from tests.config_files import write


def lint(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["lint", *args])
    return result.exit_code, result.output


def test_clean_file_exits_0_and_a_boot_stopper_exits_1(tmp_path: Path) -> None:
    (good,) = write(tmp_path / "a", {"rabbitmq.conf": "heartbeat = 30\n"})
    (bad,) = write(tmp_path / "b", {"rabbitmq.conf": "heartbeat = 30\nhearbeat = 30\n"})
    assert lint(str(good))[0] == 0
    code, out = lint("--format", "json", str(bad))
    assert code == 1
    (finding,) = [f for f in json.loads(out)["findings"] if f["rule"] == "CONF002"]
    assert (finding["file"], finding["line"]) == (str(bad), 2)


def test_a_file_that_is_no_config_is_one_line_and_exit_2(tmp_path: Path) -> None:
    (other,) = write(tmp_path, {"notes.txt": "hello\n"})
    code, out = lint(str(other))
    assert code == 2 and out.count("\n") == 1 and str(other) in out


def test_rabbitmq_flag_must_name_a_series(tmp_path: Path) -> None:
    (conf,) = write(tmp_path, {"rabbitmq.conf": "heartbeat = 30\n"})
    code, out = lint("--rabbitmq", "latest", str(conf))
    assert code == 2 and "--rabbitmq 'latest'" in out


def test_sarif_results_point_at_the_config_file_and_line(tmp_path: Path) -> None:
    (conf,) = write(tmp_path, {"rabbitmq.conf": "heartbeat = 30\nloopback_users.guest = false\n"})
    code, out = lint("--format", "sarif", str(conf))
    assert code == 1
    (result,) = [r for r in json.loads(out)["runs"][0]["results"] if r["ruleId"] == "CONF013"]
    physical = result["locations"][0]["physicalLocation"]
    assert physical["artifactLocation"]["uri"] == "file://" + str(conf)
    assert physical["region"] == {"startLine": 2}


def test_github_annotations_name_file_and_line(tmp_path: Path) -> None:
    (conf,) = write(tmp_path, {"rabbitmq.conf": "loopback_users.guest = false\n"})
    _, out = lint("--format", "github", str(conf))
    assert f"::error file={conf},line=1," in out


def test_check_config_judges_files_without_an_inventory(tmp_path: Path) -> None:
    (conf,) = write(tmp_path, {"rabbitmq.conf": "no_such.key = 1\n"})
    result = CliRunner().invoke(cli, ["check", "--config", str(conf), "--rabbitmq", "3.13", "--format", "json"])
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert {f["rule"] for f in report["findings"]} == {"CONF002"}
    assert all(c["family"] == "config" for c in report["checks"])
