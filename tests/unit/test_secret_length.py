"""Secrets shorter than 20 characters (webhook secrets, trigger tokens, the admin token) stop the
web, the worker, the notifier and ``autobuild check-config``, naming the variable, never the
value."""

from __future__ import annotations

import pytest

from cli.main import main

CONFIG = """\
repositories:
  - provider: github
    name: acme/app
    clone_url: https://github.com/acme/app.git
    image: 127.0.0.1:5000/acme/app
    webhook_secret_env: APP_HOOK_SECRET
    trigger_token_env: APP_TRIGGER_TOKEN
    build_rules: [{source_type: branch, source: master, docker_tag: latest}]
"""
LONG = "a-long-enough-secret-0123"


@pytest.fixture
def environment(tmp_path, monkeypatch):
    config = tmp_path / "autobuild.yml"
    config.write_text(CONFIG)
    monkeypatch.setenv("AUTOBUILD_CONFIG", str(config))
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")  # never reached
    for name in ("APP_HOOK_SECRET", "APP_TRIGGER_TOKEN", "AUTOBUILD_ADMIN_TOKEN"):
        monkeypatch.setenv(name, LONG)
    monkeypatch.setattr("cli.web.shutil.which", lambda *args, **kwargs: None)  # never gunicorn
    return monkeypatch


@pytest.mark.parametrize("command", [["worker", "--burst"], ["web"], ["notify"]])
@pytest.mark.parametrize(
    "variable", ["APP_HOOK_SECRET", "APP_TRIGGER_TOKEN", "AUTOBUILD_ADMIN_TOKEN"]
)
def test_a_short_secret_stops_the_process_naming_its_variable(
    environment, capsys, command, variable
):
    environment.setenv(variable, "short-secret-19char")
    with pytest.raises(SystemExit) as exited:
        main(command)
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert f"{variable} (" in err and "shorter than 20 characters" in err
    assert "short-secret-19char" not in err


def test_check_config_refuses_a_short_secret_set_in_the_environment(environment, capsys):
    assert main(["check-config"]) == 0
    capsys.readouterr()
    environment.setenv("APP_HOOK_SECRET", "hunter2")
    assert main(["check-config"]) == 1
    out = capsys.readouterr().out
    assert "APP_HOOK_SECRET (the webhook secret of github/acme/app) is shorter than 20" in out
    assert "hunter2" not in out
