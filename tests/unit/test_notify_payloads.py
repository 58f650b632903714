"""What webhook and chat targets are sent: our signed JSON, Docker Hub's push payload, a line."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from core.build import BuildRecord, BuildStatus
from core.events import RefType
from worker.notify.payloads import (
    build_payload,
    chat_message,
    dockerhub_payloads,
    signature_headers,
)

URL = "https://autobuild.example.com/builds/b1"


def record(**fields) -> BuildRecord:
    return BuildRecord(
        id="b1",
        provider="github",
        repository="octo/hello",
        source_type=RefType.BRANCH,
        source_name="master",
        commit="c" * 40,
        image="registry.example.com/octo/hello",
        docker_tags=("latest", "1.0"),
        dockerfile="Dockerfile",
        context="/",
        created_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    ).with_changes(**fields)


def test_the_payload_carries_the_build_the_pushed_tags_and_the_page():
    done = record(status=BuildStatus.SUCCESS, digest="sha256:" + "d" * 64)
    body = json.loads(build_payload("build.succeeded", "2026-01-02T03:05:00+00:00", done, URL))
    assert body["type"] == "build.succeeded"
    assert body["data"]["build"]["id"] == "b1"
    assert body["data"]["digest"] == "sha256:" + "d" * 64
    assert body["data"]["tags"] == [
        "registry.example.com/octo/hello:latest",
        "registry.example.com/octo/hello:1.0",
    ]
    assert body["data"]["build_url"] == URL


def test_nothing_is_called_pushed_before_the_push():
    body = json.loads(build_payload("build.queued", "t", record(), URL))
    assert body["data"]["tags"] == [] and body["data"]["digest"] is None


def test_a_whsec_secret_signs_so_standard_webhooks_verifies():
    secret = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
    body = build_payload("build.queued", "t", record(), URL)
    headers = signature_headers(secret, "msg_b1_0", body)
    assert Webhook(secret).verify(body, headers)["type"] == "build.queued"
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace(b"queued", b"started"), headers)


def test_any_other_secret_is_used_as_raw_bytes():
    body = b"{}"
    headers = signature_headers("plain-secret-value", "msg_1", body)
    assert Webhook(b"plain-secret-value").verify(body, headers) == {}


def test_docker_hub_gets_one_push_payload_per_pushed_tag():
    done = record(status=BuildStatus.SUCCESS, skipped_tags=("1.0",))
    (only,) = [json.loads(b) for b in dockerhub_payloads(done, URL)]
    assert only["push_data"]["tag"] == "latest"
    assert only["push_data"]["pusher"] == "autobuild"
    repository = only["repository"]
    assert repository["repo_name"] == "octo/hello"
    assert repository["namespace"] == "octo" and repository["name"] == "hello"
    assert repository["date_created"] == int(done.created_at.timestamp())
    assert only["callback_url"] == URL


def test_the_chat_line_names_repository_ref_tags_status_and_link():
    failed = record(status=BuildStatus.FAILED, error="RUN make failed.")
    title, line = chat_message("build.failed", failed, URL)
    assert title == "Autobuild: octo/hello master FAILED"
    assert line == (
        "octo/hello branch master (ccccccc) -> registry.example.com/octo/hello:latest, 1.0:"
        " FAILED: RUN make failed. " + URL
    )
