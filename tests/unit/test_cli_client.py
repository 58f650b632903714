"""The CLI's HTTP client and output formatting, without a server."""

from __future__ import annotations

import argparse
import socket

import pytest

from cli.builds import duration_text, format_table
from cli.client import ApiClient, ClientError, parse_event_stream, render_line, split_repository
from cli.trigger_cmd import trigger_body
from core.settings import Settings


def build(**changes):
    data = {
        "id": "0123abcd" * 4,
        "status": "success",
        "provider": "github",
        "repository": "octo/app",
        "source_type": "branch",
        "source_name": "master",
        "docker_tags": ["latest", "edge"],
        "commit": "c0ffee" * 6 + "abcd",
        "created_at": "2026-01-02T03:04:05Z",
        "started_at": "2026-01-02T03:04:06Z",
        "finished_at": "2026-01-02T03:05:16Z",
    }
    data.update(changes)
    return data


def test_repositories_are_named_provider_slash_name_or_just_name():
    assert split_repository("github/octo/app") == ("github", "octo/app")
    assert split_repository("gitlab/group/sub/project") == ("gitlab", "group/sub/project")
    assert split_repository("octo/app") == (None, "octo/app")
    assert split_repository("github") == (None, "github")


def test_server_sent_events_are_parsed_with_ids_and_keepalives():
    stream = [
        ": keep-alive",
        "",
        "id: 1-0",
        "event: line",
        'data: {"text": "Step 1/2 : FROM x", "time": "2026-01-02T03:04:05+00:00",',
        'data:  "phase": "build"}',
        "",
        "event: end",
        'data: {"status": "success"}',
        "",
    ]
    events = list(parse_event_stream(iter(stream)))
    assert [e.kind for e in events] == ["line", "end"]
    assert events[0].id == "1-0" and events[0].data["phase"] == "build"
    assert render_line(events[0].data) == "03:04:05 Step 1/2 : FROM x"
    assert events[1].data == {"status": "success"}


def test_a_malformed_event_is_a_client_error():
    with pytest.raises(ClientError, match="not JSON"):
        list(parse_event_stream(iter(["event: line", "data: {nope", ""])))


def test_the_builds_table_has_a_header_and_one_aligned_row_per_build():
    table = format_table([build(), build(id="f" * 32, status="building", finished_at=None)])
    lines = table.splitlines()
    assert lines[0].split() == ["ID", "STATUS", "REPOSITORY", "REF", "TAGS", "COMMIT", "QUEUED",
                                "DURATION"]  # fmt: skip
    assert "0123abcd" * 4 in lines[1] and "github/octo/app" in lines[1]
    assert "latest,edge" in lines[1] and "c0ffeec" in lines[1] and lines[1].endswith("1m10s")
    assert lines[1].index("success") == lines[2].index("building")  # aligned columns


def test_durations_read_like_the_ui():
    assert duration_text(build(started_at=None)) == "-"
    assert duration_text(build(finished_at="2026-01-02T03:04:09Z")) == "3s"
    assert duration_text(build(finished_at="2026-01-02T05:10:06Z")) == "2h06m"


def test_trigger_options_become_docker_hub_bodies():
    def body(**given):
        values = {"branch": None, "tag": None, "docker_tag": None, **given}
        return trigger_body(argparse.Namespace(**values))

    assert body() == {"build": True}
    assert body(branch="main") == {"source_type": "Branch", "source_name": "main"}
    assert body(tag="v1.2") == {"source_type": "Tag", "source_name": "v1.2"}
    assert body(docker_tag="latest") == {"docker_tag": "latest"}


def test_the_url_and_token_come_from_the_environment():
    client = ApiClient.from_env(
        {"AUTOBUILD_URL": "http://ab.example:9000/", "AUTOBUILD_TOKEN": "t"}
    )
    assert client.base_url == "http://ab.example:9000"
    assert client.session.headers["Authorization"] == "Bearer t"
    assert ApiClient.from_env({}).base_url == "http://127.0.0.1:8000"
    admin = ApiClient.from_env({"AUTOBUILD_ADMIN_TOKEN": "admin-token-0123456789"})
    assert admin.token == "admin-token-0123456789"
    assert "admin-token-0123456789" not in repr(
        Settings.from_env({"AUTOBUILD_TOKEN": "admin-token-0123456789"})
    )


def test_an_unreachable_server_is_one_clear_line():
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = ApiClient(f"http://127.0.0.1:{port}", timeout=2)
    with pytest.raises(ClientError) as caught:
        client.builds()
    message = str(caught.value)
    assert "\n" not in message
    assert f"cannot reach Autobuild at http://127.0.0.1:{port}" in message
    assert "AUTOBUILD_URL" in message
    with pytest.raises(ClientError, match="cannot reach"):
        list(client.follow_log("abc"))  # fails at once, no reconnect loop
