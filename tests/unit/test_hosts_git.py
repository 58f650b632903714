"""Plain git servers: Autobuild's own push format, as sent by ``autobuild git-hook``."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest

from app.hosts import git
from app.hosts.base import PayloadError, SignatureError
from core.events import RefType

OLD = "1" * 40
NEW = "2" * 40
TAG_OBJECT = "3" * 40


def body(**changes: object) -> bytes:
    document: dict[str, object] = {
        "repository": "team/app",
        "delivery_id": "0b7c7a9e-2d1c-4a55-9a52-6f1d1f3e8c11",
        "timestamp": int(time.time()),
        "pushes": [
            {
                "ref": "refs/heads/main",
                "before": OLD,
                "after": NEW,
                "changed_files": ["src/app.py", "README.md"],
                "head_message": "Fix the thing\n\n[skip ci]",
            },
            {
                "ref": "refs/tags/v1.0",
                "before": None,
                "after": TAG_OBJECT,
                "commit": NEW,
                "changed_files": None,
                "head_message": "Fix the thing",
            },
        ],
    }
    document.update(changes)
    return json.dumps(document).encode()


def sign(data: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), data, hashlib.sha256).hexdigest()


def test_signature_verifies_and_wrong_or_missing_is_refused():
    data = body()
    git.verify({"X-Autobuild-Signature": sign(data, "hook")}, data, "hook")
    with pytest.raises(SignatureError):
        git.verify({"X-Autobuild-Signature": sign(data, "nope")}, data, "hook")
    with pytest.raises(SignatureError, match="X-Autobuild-Signature"):
        git.verify({}, data, "hook")


def test_every_push_becomes_an_event():
    data = body()
    assert git.repository_name({}, data) == "team/app"
    delivery = git.parse({}, data)
    assert delivery.delivery_id == "0b7c7a9e-2d1c-4a55-9a52-6f1d1f3e8c11"
    branch, tag = delivery.events
    assert (branch.provider, branch.repository) == ("git", "team/app")
    assert (branch.ref_type, branch.ref_name, branch.commit, branch.before) == (
        RefType.BRANCH,
        "main",
        NEW,
        OLD,
    )
    assert branch.changed_files == ("src/app.py", "README.md")
    assert branch.head_message == "Fix the thing\n\n[skip ci]"
    assert (tag.ref_type, tag.ref_name, tag.commit, tag.before) == (RefType.TAG, "v1.0", NEW, None)
    assert tag.changed_files is None
    assert all(e.delivery_id == delivery.delivery_id for e in delivery.events)


def test_a_new_ref_never_claims_to_know_its_changed_files():
    pushes = [{"ref": "refs/heads/x", "before": "0" * 40, "after": NEW, "changed_files": ["a"]}]
    (event,) = git.parse({}, body(pushes=pushes)).events
    assert event.before is None
    assert event.changed_files is None


def test_deletions_and_other_refs_are_ignored():
    pushes = [
        {"ref": "refs/heads/gone", "before": OLD, "after": "0" * 40},
        {"ref": "refs/notes/commits", "before": OLD, "after": NEW},
    ]
    delivery = git.parse({}, body(pushes=pushes))
    assert delivery.events == ()
    assert "deleted" in (delivery.ignored or "")


def test_missing_delivery_id_is_derived_from_the_body():
    data = body(delivery_id=None)
    assert git.parse({}, data).delivery_id == "sha256:" + hashlib.sha256(data).hexdigest()


def test_sha256_repositories_are_accepted():
    pushes = [{"ref": "refs/heads/main", "before": "a" * 64, "after": "b" * 64}]
    (event,) = git.parse({}, body(pushes=pushes)).events
    assert event.commit == "b" * 64


@pytest.mark.parametrize(
    "data",
    [
        b"not json",
        b"\xff",
        body(repository=None),
        body(repository="a\nb"),
        body(repository="r" * 300),
        body(pushes=None),
        body(pushes=[{"ref": "refs/heads/main", "after": "xyz"}]),
        body(pushes=[{"ref": "refs/heads/--upload-pack=x", "after": NEW}]),
        body(pushes=[{"ref": "refs/heads/a\nb", "after": NEW}]),
        body(pushes=[{"ref": "refs/heads/" + "d" * 300, "after": NEW}]),
        body(pushes=[{"after": NEW}]),
        body(pushes=[{"ref": "refs/heads/main", "after": NEW, "commit": "HEAD"}]),
        body(pushes=[{"ref": "refs/heads/main", "after": NEW, "changed_files": [1]}]),
        body(pushes=[{"ref": "refs/heads/main", "after": NEW, "changed_files": "a"}]),
        body(pushes=[{"ref": "refs/heads/main", "after": NEW, "head_message": 5}]),
        body(delivery_id="has space"),
        body(delivery_id="x" * 500),
    ],
)
def test_malformed_documents_are_payload_errors(data):
    with pytest.raises(PayloadError):
        git.parse({}, data)


@pytest.mark.parametrize(
    ("sent", "reason"),
    [
        (1000.0 - 301, "was sent 301 s ago, more than 300 s"),
        (1000.0 + 301, "301 s in the future"),
        (None, "has no 'timestamp'"),
        ("1000", "has no 'timestamp'"),
        (True, "has no 'timestamp'"),
    ],
)
def test_a_document_not_sent_within_five_minutes_is_refused(sent: object, reason: str) -> None:
    with pytest.raises(PayloadError, match=reason):
        git.check_timestamp({"timestamp": sent}, now=1000.0)


def test_a_document_sent_within_five_minutes_is_accepted() -> None:
    for sent in (1000.0 - 300, 1000.0, 1000.0 + 300):
        git.check_timestamp({"timestamp": sent}, now=1000.0)
