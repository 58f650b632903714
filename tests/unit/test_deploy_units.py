"""The systemd units in deploy/systemd/ stay true: each starts an ``autobuild`` command the CLI
accepts, the worker's stop is a drain, and the example environment file names only documented
variables."""

from __future__ import annotations

import configparser
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cli.main import build_parser
from core.settings import PROJECT_ROOT

UNITS = PROJECT_ROOT / "deploy" / "systemd"
UNIT_FILES = sorted(UNITS.glob("*.service"))
AUTOBUILD = "/opt/autobuild/.venv/bin/autobuild"
ASSIGNMENT = re.compile(r"^#?\s*([A-Z][A-Z0-9_]*)=", re.MULTILINE)
DOCUMENTED = re.compile(r"^\| `([A-Z][A-Z0-9_]*)` \|", re.MULTILINE)
EXAMPLE_SECRETS = {"GITHUB_WEBHOOK_SECRET", "REGISTRY_PASSWORD"}  # named by the YAML (`*_env`)


def read_unit(path: Path) -> configparser.ConfigParser:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]  # systemd keys are case-sensitive
    unit.read(path)
    return unit


def test_there_is_a_unit_for_the_web_the_worker_and_the_notifier() -> None:
    names = {path.name for path in UNIT_FILES}
    assert {"autobuild-web.service", "autobuild-worker@.service"} <= names
    assert "autobuild-notify.service" in names


@pytest.mark.parametrize("path", UNIT_FILES, ids=lambda path: path.name)
def test_each_unit_starts_a_command_the_cli_accepts(path: Path) -> None:
    unit = read_unit(path)
    argv = shlex.split(unit["Service"]["ExecStart"])
    assert argv[0] == AUTOBUILD
    args = build_parser().parse_args(argv[1:])  # exits (fails the test) on an unknown option
    assert args.command in path.name
    assert unit["Service"]["EnvironmentFile"] == "/etc/autobuild/autobuild.env"
    assert unit["Service"]["User"] == "autobuild"


def test_stopping_the_worker_unit_drains_it() -> None:
    service = read_unit(UNITS / "autobuild-worker@.service")["Service"]
    # SIGTERM to the worker alone is rq's warm stop: the running build finishes first
    assert service["KillMode"] == "mixed"
    assert service["KillSignal"] == "SIGTERM"
    assert service["TimeoutStopSec"] not in {"", "0", "infinity"}
    assert "--drain" not in service["ExecStart"]


def test_the_example_environment_names_only_documented_variables() -> None:
    documented = set(DOCUMENTED.findall((PROJECT_ROOT / "docs" / "configuration.md").read_text()))
    example = (UNITS / "autobuild.env.example").read_text()
    named = set(ASSIGNMENT.findall(example)) - EXAMPLE_SECRETS
    assert {"AUTOBUILD_CONFIG", "REDIS_URL"} <= named
    assert named <= documented


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_accepts_the_units(tmp_path: Path) -> None:
    autobuild = Path(sys.executable).with_name("autobuild")
    for path in UNIT_FILES:
        name = path.name.replace("@.", "@1.")  # a template is checked as one of its instances
        (tmp_path / name).write_text(path.read_text().replace(AUTOBUILD, str(autobuild)))
    verify = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *sorted(tmp_path.glob("*.service"))],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (verify.returncode, verify.stdout + verify.stderr) == (0, "")
