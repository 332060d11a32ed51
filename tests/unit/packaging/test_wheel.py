"""What gets installed lives under our own name, so it coexists with PyPI's `rules` (django-rules).

Builds the wheel, installs it into a fresh virtual environment next to PyPI's `rules`, and runs both.
Slow (a venv and a few downloads through the machine's package index), so it is done once per session.
"""

from __future__ import annotations

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(ROOT)],
                   check=True, capture_output=True, timeout=300)
    [built] = out.glob("rabbitmq_preflight-*.whl")
    return built


@pytest.fixture(scope="module")
def fresh_env(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    env = tmp_path_factory.mktemp("venv") / "env"
    venv.create(env, with_pip=True)
    subprocess.run([str(env / "bin" / "pip"), "install", "-q", "rules>=3.5", str(wheel)],
                   check=True, capture_output=True, timeout=600)
    return env


def test_the_wheel_installs_one_top_level_package_of_our_own_name(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith((".dist-info", ".data"))}
    assert tops == {"rabbitmq_preflight"}
    assert "rabbitmq_preflight/rules/cookies.py" in names
    assert "rabbitmq_preflight/service/daemon.py" in names
    assert "rabbitmq_preflight/render/templates/report.html.j2" in names  # the HTML report's template
    assert "rabbitmq_preflight/configfiles/data/schema_keys.json" in names  # lint's key tables


def test_the_installed_tool_runs_next_to_pypis_rules_package(fresh_env: Path) -> None:
    bin_ = fresh_env / "bin"
    help_ = subprocess.run([str(bin_ / "preflight"), "check", "--help"], capture_output=True, text=True, timeout=60)
    assert help_.returncode == 0 and "--fail-on" in help_.stdout
    listed = subprocess.run([str(bin_ / "preflight"), "rules"], capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0 and "COOKIE001" in listed.stdout
    theirs = subprocess.run(
        [str(bin_ / "python"), "-c", "import rules, rules.predicates; print(rules.__file__)"],
        capture_output=True, text=True, timeout=60, cwd=fresh_env,  # not the checkout: its rules/ is ours
    )
    assert theirs.returncode == 0, theirs.stderr
    assert "site-packages/rules/__init__.py" in theirs.stdout
