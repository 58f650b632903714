"""The terminal commands against a real web process (werkzeug on 127.0.0.1) and the real Redis."""

from __future__ import annotations

import json
import threading

import pytest

from cli.main import main
from core.build import BuildStatus
from core.store import BuildStore
from tests.integration.browser_helpers import (
    ADMIN_TOKEN,
    FAKE_DIGEST,
    REPO,
    add_record,
    build_log,
    live_server,
    run_fake_build,
    write_ui_config,
)
from tests.integration.webhook_helpers import make_app, make_settings

TRIGGER_TOKEN = "ui-trigger-token-value"


@pytest.fixture
def store(clean_redis):
    return BuildStore(clean_redis)


@pytest.fixture
def server(tmp_path, redis_url, clean_redis, make_git_repo, monkeypatch):
    repo = make_git_repo({"Dockerfile": "FROM scratch\n"})
    config = write_ui_config(tmp_path, clone_url=repo.url)
    settings = make_settings(
        config, redis_url, tmp_path,
        AUTOBUILD_ADMIN_TOKEN=ADMIN_TOKEN, UI_TRIGGER_TOKEN=TRIGGER_TOKEN,
    )  # fmt: skip
    for name in ("AUTOBUILD_TOKEN", "AUTOBUILD_ADMIN_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    with live_server(make_app(settings)) as running:
        monkeypatch.setenv("AUTOBUILD_URL", running.url)
        running.git_repo = repo
        yield running


def test_builds_lists_and_filters(server, store, capsys):
    done = run_fake_build(store, add_record(store))
    waiting = add_record(store, provider="gitlab", repository="group/other")
    assert main(["builds"]) == 0
    out = capsys.readouterr().out
    assert done.id in out and waiting.id in out and "success" in out

    assert main(["builds", "--repository", "gitlab/group/other", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [b["id"] for b in listed] == [waiting.id]

    assert main(["builds", "--status", "success", "--limit", "5"]) == 0
    out = capsys.readouterr().out
    assert done.id in out and waiting.id not in out


def test_builds_reports_a_bad_filter_in_one_line(server, capsys):
    assert main(["builds", "--status", "nope"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("autobuild builds: HTTP 400: Unknown status 'nope'")
    assert "\n" not in err


def test_logs_prints_the_log_so_far(server, store, capsys):
    record = run_fake_build(store, add_record(store))
    assert main(["logs", record.id]) == 0
    out = capsys.readouterr().out
    assert "Step 2/3 : RUN echo compiling" in out and FAKE_DIGEST in out


def test_logs_follow_streams_until_the_build_ends_and_exits_with_its_outcome(server, store, capsys):
    record = add_record(store)
    started = threading.Event()

    def build():
        started.wait(10)
        run_fake_build(store, record, pause=lambda: None)

    thread = threading.Thread(target=build, daemon=True)
    thread.start()
    build_log(store, record.id).append("waiting for the worker")
    started.set()
    assert main(["logs", "-f", record.id]) == 0
    thread.join(10)
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[0].endswith("waiting for the worker")
    assert any("Step 3/3" in line for line in lines)
    assert lines[-1].split(" ", 1)[1].startswith("Build succeeded")
    assert f"ended: success (127.0.0.1:5000/octo/ui-demo@{FAKE_DIGEST})" in captured.err

    failed = run_fake_build(store, add_record(store), fail_at_step=2)
    assert main(["logs", "--follow", failed.id]) == 1
    assert "ended: failed: The command" in capsys.readouterr().err


def test_logs_show_a_builds_control_characters_escaped_never_raw(server, store, capsys):
    record = add_record(store)
    hostile = "\x1b]52;c;ZXZpbA==\x07\x1b[2K\rBuild succeeded\x9b31m\ttab kept"
    build_log(store, record.id).append(hostile)
    shown = "\\x1b]52;c;ZXZpbA==\\x07\\x1b[2K\\x0dBuild succeeded\\x9b31m\ttab kept"

    assert main(["logs", record.id]) == 0
    out = capsys.readouterr().out
    assert shown in out
    assert not any(char in out for char in "\x1b\x07\r\x9b")

    run_fake_build(store, record)
    main(["logs", "-f", record.id])
    out = capsys.readouterr().out
    assert shown in out
    assert not any(char in out for char in "\x1b\x07\r\x9b")


def test_logs_of_an_unknown_build_is_a_clear_error(server, capsys):
    assert main(["logs", "f" * 32]) == 1
    assert "HTTP 404: There is no build" in capsys.readouterr().err


def test_trigger_queues_builds_with_the_trigger_token(server, store, capsys, monkeypatch):
    monkeypatch.setenv("AUTOBUILD_TOKEN", TRIGGER_TOKEN)
    assert main(["trigger", f"github/{REPO}", "--branch", "master"]) == 0
    out = capsys.readouterr().out
    (queued,) = store.recent()
    assert queued.status is BuildStatus.QUEUED and queued.commit == server.git_repo.head()
    assert f"Queued {queued.id}: branch master" in out
    assert f"{server.url}/builds/{queued.id}" in out

    assert main(["trigger", f"github/{REPO}", "--tag", "v9.9"]) == 1
    assert "HTTP 404" in capsys.readouterr().err


def test_trigger_needs_a_valid_token(server, capsys, monkeypatch):
    assert main(["trigger", f"github/{REPO}"]) == 2
    assert "set AUTOBUILD_TOKEN" in capsys.readouterr().err
    monkeypatch.setenv("AUTOBUILD_TOKEN", "wrong-token")
    assert main(["trigger", f"github/{REPO}"]) == 1
    assert "HTTP 401" in capsys.readouterr().err
    monkeypatch.setenv("AUTOBUILD_TOKEN", "")
    monkeypatch.setenv("AUTOBUILD_ADMIN_TOKEN", ADMIN_TOKEN)  # the admin token works too
    assert main(["trigger", f"github/{REPO}", "-d", "edge"]) == 0
    assert "-> latest, edge" in capsys.readouterr().out


def test_trigger_wants_provider_and_name(server, capsys):
    assert main(["trigger", REPO]) == 2
    assert "PROVIDER/NAME" in capsys.readouterr().err
