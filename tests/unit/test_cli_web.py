"""A broken configuration stops the web process at start, naming file, line and problem."""

import subprocess
import sys
from pathlib import Path

import pytest

from app import create_app
from buildrules.loader import ConfigError
from core.settings import Settings

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BROKEN = """\
repositories:
  - provider: github
    name: octo/app
    clone_url: https://git.example.invalid/octo/app.git
    image: 127.0.0.1:5000/Octo/App
    webhook_secret: in-the-yaml
    build_rules:
      - {source_type: branch, source: main, docker_tag: latest}
"""


def test_web_command_refuses_a_broken_configuration_with_file_and_line(tmp_path):
    config = tmp_path / "autobuild.yml"
    config.write_text(BROKEN)
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "web", "--port", "1"],
        cwd=PROJECT_ROOT,
        env={"AUTOBUILD_CONFIG": str(config), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert any(f"{config}:5: " in line and "lowercase" in line for line in lines), lines
    assert any(f"{config}:6: " in line and "webhook_secret" in line for line in lines), lines
    assert "Autobuild web UI" not in result.stdout  # gunicorn never started


def test_app_factory_raises_the_configuration_problems(tmp_path):
    config = tmp_path / "autobuild.yml"
    config.write_text(BROKEN)
    with pytest.raises(ConfigError) as raised:
        create_app(Settings.from_env({"AUTOBUILD_CONFIG": str(config)}))
    assert f"{config}:5:" in str(raised.value)
