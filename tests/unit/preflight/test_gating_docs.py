"""The CI snippets in the README's "Gating a deploy" stay valid: YAML that parses, jobs that gate, flags that exist."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from rabbitmq_preflight.cli import cli
from tests.conftest import ROOT

DOC = ROOT / "README.md"


def yaml_blocks(section: str | None = "Gating a deploy") -> list[Any]:
    """The YAML snippets of one `## ` section of the README (all of them with section=None)."""
    text = DOC.read_text(encoding="utf-8")
    if section is not None:
        text = text.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```yaml\n(.*?)^```", text, flags=re.S | re.M)
    return [yaml.safe_load(block) for block in blocks]


def test_every_yaml_snippet_in_the_readme_parses() -> None:
    assert all(isinstance(b, dict) for b in yaml_blocks(None)) and len(yaml_blocks(None)) >= 2


def github_workflow() -> dict[Any, Any]:
    [workflow] = [b for b in yaml_blocks() if "jobs" in b]
    assert isinstance(workflow, dict)
    return workflow


def gitlab_pipeline() -> dict[str, Any]:
    [pipeline] = [b for b in yaml_blocks() if "stages" in b]
    assert isinstance(pipeline, dict)
    return pipeline


def preflight_commands(script: str) -> list[list[str]]:
    """Every `preflight check …` command in a shell script, as argv (line continuations joined)."""
    joined = script.replace("\\\n", " ")
    return [shlex.split(line.strip())[1:] for line in joined.splitlines() if line.strip().startswith("preflight check")]


def reports(argv: list[str]) -> dict[str, str]:
    specs = [argv[i + 1] for i, arg in enumerate(argv) if arg == "--report"]
    return dict(spec.split(":", 1) for spec in specs)


def test_the_doc_has_one_github_and_one_gitlab_snippet() -> None:
    assert len(yaml_blocks()) == 2
    github_workflow()
    gitlab_pipeline()


def test_github_job_runs_the_check_uploads_sarif_and_gates_the_deploy() -> None:
    workflow = github_workflow()
    assert True in workflow or "on" in workflow  # YAML 1.1 reads the `on:` key as a boolean
    gate = workflow["jobs"]["preflight"]
    assert gate["permissions"]["security-events"] == "write"
    runs = [step for step in gate["steps"] if "preflight check" in step.get("run", "")]
    [check_step] = runs
    assert not check_step.get("continue-on-error")
    [argv] = preflight_commands(check_step["run"])
    assert "--format" in argv and argv[argv.index("--format") + 1] == "github"
    sarif = reports(argv)["sarif"]
    [upload] = [s for s in gate["steps"] if s.get("uses", "").startswith("github/codeql-action/upload-sarif@")]
    assert upload["with"]["sarif_file"] == sarif
    assert "!cancelled()" in upload["if"] or "always()" in upload["if"]  # upload even when the gate fails
    assert workflow["jobs"]["deploy"]["needs"] == "preflight"


def test_gitlab_job_runs_the_check_publishes_junit_and_gates_the_deploy() -> None:
    pipeline = gitlab_pipeline()
    job = pipeline["rabbitmq-preflight"]
    assert not job.get("allow_failure")
    [argv] = [cmd for line in job["script"] for cmd in preflight_commands(line)]
    junit = reports(argv)["junit"]
    assert job["artifacts"]["reports"]["junit"] == junit
    assert job["artifacts"]["when"] == "always"  # reports are kept when the gate fails
    assert pipeline["stages"].index(job["stage"]) < pipeline["stages"].index(pipeline["deploy-rabbitmq"]["stage"])
    assert pipeline["deploy-rabbitmq"]["needs"] == ["rabbitmq-preflight"]


def all_commands() -> list[list[str]]:
    workflow, pipeline = github_workflow(), gitlab_pipeline()
    scripts = [step.get("run", "") for job in workflow["jobs"].values() for step in job["steps"]]
    scripts += [line for job in pipeline.values() if isinstance(job, dict) for line in job.get("script", [])]
    return [cmd for script in scripts for cmd in preflight_commands(script)]


@pytest.mark.parametrize("argv", all_commands(), ids=lambda argv: " ".join(argv)[:60])
def test_every_documented_command_line_is_accepted_by_the_cli(argv: list[str]) -> None:
    command = cli.get_command(click.Context(cli), "check")  # the group loads its commands by name
    assert isinstance(command, click.Command)
    ctx = command.make_context("check", list(argv))  # parses options and runs their callbacks, no I/O
    assert ctx.params["inventory_path"] == Path("deploy/rabbitmq/prod.toml")


def test_the_wait_example_is_in_both_pipelines() -> None:
    waits = [argv for argv in all_commands() if "--wait" in argv]
    assert len(waits) == 2 and all(argv[argv.index("--wait") + 1] == "5m" for argv in waits)
