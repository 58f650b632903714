"""Gitea, Forgejo and Gogs: the signature headers, form deliveries, creation and deletion."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from urllib.parse import urlencode

import pytest
from werkzeug.datastructures import Headers

from app.hosts import gitea
from app.hosts.base import PayloadError, PingWithoutRepository, SignatureError
from core.events import RefType

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "webhooks" / "gitea"
FORM = "application/x-www-form-urlencoded"
PUSH = "push-branch.json"


def load(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def headers(event: str = "push", **extra: str) -> Headers:
    return Headers({"X-Gitea-Event": event, "X-Gitea-Delivery": "d-1", **extra})


def hexdigest(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def edited(**changes: object) -> bytes:
    payload = json.loads(load(PUSH))
    payload.update(changes)
    return json.dumps(payload).encode()


# --- signatures -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["X-Gitea-Signature", "X-Forgejo-Signature", "X-Gogs-Signature"])
def test_bare_hex_signatures_verify(name):
    body = load(PUSH)
    gitea.verify(headers(**{name: hexdigest(body, "k")}), body, "k")
    with pytest.raises(SignatureError):
        gitea.verify(headers(**{name: hexdigest(body, "other")}), body, "k")


def test_github_style_signature_verifies():
    body = load(PUSH)
    gitea.verify(headers(**{"X-Hub-Signature-256": "sha256=" + hexdigest(body, "k")}), body, "k")


def test_missing_or_empty_signature_is_refused():
    with pytest.raises(SignatureError, match="X-Gitea-Signature"):
        gitea.verify(headers(), load(PUSH), "k")
    with pytest.raises(SignatureError):
        gitea.verify(headers(**{"X-Gitea-Signature": ""}), load(PUSH), "k")


def test_form_deliveries_are_signed_over_the_json_not_the_form_body():
    json_body = load(PUSH)
    form_body = urlencode({"payload": json_body.decode()}).encode()
    good = headers(**{"Content-Type": FORM, "X-Gitea-Signature": hexdigest(json_body, "k")})
    gitea.verify(good, form_body, "k")
    bad = headers(**{"Content-Type": FORM, "X-Gitea-Signature": hexdigest(form_body, "k")})
    with pytest.raises(SignatureError):
        gitea.verify(bad, form_body, "k")
    assert gitea.parse(good, form_body).events == gitea.parse(headers(), json_body).events
    assert gitea.repository_name(good, form_body) == "gogits/hello-world"


# --- real payloads --------------------------------------------------------------------------------


def test_push_becomes_one_event():
    body = load(PUSH)
    assert gitea.repository_name(headers(), body) == "gogits/hello-world"
    delivery = gitea.parse(headers(), body)
    assert delivery.delivery_id == "d-1"
    (event,) = delivery.events
    assert event.provider == "gitea"
    assert event.repository == "gogits/hello-world"
    assert (event.ref_type, event.ref_name) == (RefType.BRANCH, "master")
    assert event.commit == "4522cbcefc20728a5b72b3a86af35e608622c514"
    assert event.before == "9836a96a253cce25d17988fcf41b8c4205cf779f"
    assert event.changed_files == ("README.md",)
    assert event.head_message == "Updated readme\n"


@pytest.mark.parametrize(
    ("name", "event"), [("create-tag.json", "create"), ("delete-branch.json", "delete")]
)
def test_create_and_delete_events_are_ignored(name, event):
    delivery = gitea.parse(headers(event), load(name))
    assert delivery.events == ()
    assert "push events already cover them" in (delivery.ignored or "")


@pytest.mark.parametrize(
    "event_headers",
    [
        {"X-Forgejo-Event": "push", "X-Forgejo-Delivery": "f-1"},
        {"X-Gogs-Event": "push", "X-Gogs-Delivery": "f-1"},
        {"X-GitHub-Event": "push", "X-GitHub-Delivery": "f-1"},
    ],
)
def test_forgejo_gogs_and_github_style_headers_are_understood(event_headers):
    delivery = gitea.parse(event_headers, load(PUSH))
    assert delivery.delivery_id == "f-1"
    assert len(delivery.events) == 1


def test_all_zero_before_is_a_new_branch_with_unknown_files():
    (event,) = gitea.parse(headers(), edited(before="0" * 40)).events
    assert event.before is None
    assert event.changed_files is None


def test_all_zero_after_is_a_deletion():
    delivery = gitea.parse(headers(), edited(after="0" * 40))
    assert delivery.events == ()
    assert "deleted" in (delivery.ignored or "")


def test_total_commits_above_the_list_means_unknown_files():
    assert gitea.parse(headers(), edited(total_commits=9)).events[0].changed_files is None
    assert gitea.parse(headers(), edited(total_commits=1)).events[0].changed_files == ("README.md",)


def test_five_commits_without_total_may_be_cut_short_so_files_are_unknown():
    payload = json.loads(load(PUSH))
    payload["commits"] = payload["commits"] * 5
    (event,) = gitea.parse(headers(), json.dumps(payload).encode()).events
    assert event.changed_files is None


def test_tag_push_builds_the_head_commit():
    head = dict(json.loads(load(PUSH))["commits"][0])
    body = edited(ref="refs/tags/v1", before="0" * 40, after="c" * 40, head_commit=head)
    (event,) = gitea.parse(headers(), body).events
    assert (event.ref_type, event.ref_name) == (RefType.TAG, "v1")
    assert event.commit == "4522cbcefc20728a5b72b3a86af35e608622c514"


def test_other_events_are_ignored():
    assert gitea.parse(headers("issues"), load(PUSH)).ignored == "event 'issues' is not built"


@pytest.mark.parametrize(
    "body",
    [
        b"{",
        b"\xfe",
        edited(ref="refs/heads/--upload-pack=x"),
        edited(ref="refs/heads/a\rb"),
        edited(ref="refs/heads/" + "c" * 300),
        edited(ref=None),
        edited(after=None),
        edited(total_commits="3"),
        edited(commits=[{"added": "README.md", "modified": [], "removed": []}]),
        edited(repository={"full_name": ""}),
    ],
)
def test_malformed_pushes_are_payload_errors(body):
    with pytest.raises(PayloadError):
        gitea.parse(headers(), body)


def test_missing_event_header_is_a_payload_error():
    with pytest.raises(PayloadError, match="X-Gitea-Event"):
        gitea.parse({}, load(PUSH))


def test_an_unbuilt_event_without_repository_is_ignored_not_refused():
    body = json.dumps({"action": "created", "organization": {"username": "o"}}).encode()
    with pytest.raises(PingWithoutRepository, match="'organization' is not built"):
        gitea.repository_name(headers("organization"), body)
    with pytest.raises(PayloadError):
        gitea.repository_name(headers("push"), body)
