"""Bitbucket Cloud (repo:push) and Server / Data Center (repo:refs_changed) on one endpoint."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest
from werkzeug.datastructures import Headers

from app.hosts import bitbucket
from app.hosts.base import PayloadError, PingWithoutRepository, SignatureError
from core.events import RefType

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "webhooks"
CLOUD = FIXTURES / "bitbucket-cloud"
SERVER = FIXTURES / "bitbucket-server"


def cloud_headers(**extra: str) -> Headers:
    return Headers({"X-Event-Key": "repo:push", "X-Request-UUID": "req-1", **extra})


def server_headers(**extra: str) -> Headers:
    return Headers({"X-Event-Key": "repo:refs_changed", "X-Request-Id": "srv-1", **extra})


def signed(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def summary(delivery):
    return [
        (e.ref_type, e.ref_name, e.commit, e.before, e.changed_files, e.head_message)
        for e in delivery.events
    ]


# --- signatures -----------------------------------------------------------------------------------

SIGNED_SECRET = "Gkvl$k$wyNpQAF42"
SIGNED_VALUE = "sha256=f205c729821c6954aff2afe72b965c34015b4baf96ea8ddc2cc44999c014a035"


def test_signed_cloud_fixture_verifies_with_its_secret():
    body = (CLOUD / "repo-push-branch-created-signed.json").read_bytes()
    bitbucket.verify(cloud_headers(**{"X-Hub-Signature": SIGNED_VALUE}), body, SIGNED_SECRET)


def test_signed_cloud_fixture_with_last_digit_changed_is_refused():
    body = (CLOUD / "repo-push-branch-created-signed.json").read_bytes()
    wrong = SIGNED_VALUE[:-1] + "6"
    with pytest.raises(SignatureError) as caught:
        bitbucket.verify(cloud_headers(**{"X-Hub-Signature": wrong}), body, SIGNED_SECRET)
    assert "f205c729" not in str(caught.value)


def test_server_signature_is_the_same_scheme():
    body = (SERVER / "refs-changed-branch-update.json").read_bytes()
    bitbucket.verify(server_headers(**{"X-Hub-Signature": signed(body, "s3")}), body, "s3")
    with pytest.raises(SignatureError):
        bitbucket.verify(server_headers(**{"X-Hub-Signature": signed(body, "s4")}), body, "s3")


def test_missing_or_other_algorithm_signature_is_refused():
    body = b"{}"
    with pytest.raises(SignatureError, match="X-Hub-Signature"):
        bitbucket.verify(cloud_headers(), body, "s")
    sha1 = "sha1=" + hmac.new(b"s", body, hashlib.sha1).hexdigest()
    with pytest.raises(SignatureError, match="sha256"):
        bitbucket.verify(cloud_headers(**{"X-Hub-Signature": sha1}), body, "s")


# --- Bitbucket Cloud ------------------------------------------------------------------------------

CLOUD_PUSHES = {
    "repo-push-branch-update.json": (
        "cloudbeers/temp",
        [
            (
                RefType.BRANCH,
                "main",
                "e42fac24456e4a56f1b7f9358afc3070e3b7ddec",
                "501bf5b99365d1d870882254b9360c17172bda0e",
                None,
                "Jenkinsfile created online with Bitbucket",
            )
        ],
    ),
    "repo-push-branch-update-goscm.json": (
        "brydzewski/foo",
        [
            (
                RefType.BRANCH,
                "master",
                "141977fedf5cf35aa290ac87d4b5177ac4cd9de1",
                "40e7580cf11311d84a6e5e97e2cbba6df1675750",
                None,
                "Update README\n",
            )
        ],
    ),
    "repo-push-branch-created.json": (
        "amuniz/test-repos",
        [
            (
                RefType.BRANCH,
                "feature/test",
                "174561d625c9623b60d8aba09b7f08ddc9df45cd",
                None,
                None,
                "Add simple pipeline\n",
            )
        ],
    ),
    "repo-push-branch-created-signed.json": (
        "nfalco79/test-repos",
        [
            (
                RefType.BRANCH,
                "feature/webhook",
                "d7f300a32270053bdfd97a6d64113f58202c33e7",
                None,
                None,
                "Test for webhook signature\n",
            )
        ],
    ),
    "repo-push-tag-created.json": (
        "amuniz/test-repos",
        [
            (
                RefType.TAG,
                "simple-tag",
                "7ef5981d59145c3ed300b1ab77b93907d33abe59",
                None,
                None,
                "Test pipeline for issue JENKINS-75182\n",
            )
        ],
    ),
    "repo-push-annotated-tag-created.json": (
        "amuniz/test-repos",
        [
            (
                RefType.TAG,
                "test-tag",
                "7ef5981d59145c3ed300b1ab77b93907d33abe59",
                None,
                None,
                "Test pipeline for issue JENKINS-75182\n",
            )
        ],
    ),
    "repo-push-forced-truncated.json": (
        "amuniz/test-repos",
        [
            (
                RefType.BRANCH,
                "feature/issue-819",
                "5ecffa3874e96920f24a2b3c0d0038e47d5cd1a4",
                "a10199272451f4c7c5edced2d40b5d6f2f6f5fa3",
                None,
                "Test pipeline for issue JENKINS-75182\n",
            )
        ],
    ),
    "repo-push-multiple-changes.json": (
        "cloudbeers/temp",
        [
            (
                RefType.BRANCH,
                "main",
                "325d37697849f4b1fe42cb19c20134af08e03a82",
                "fc4d1ce2853b6f1ac0d0dbad643d17ef4a6e0be7",
                None,
                "typo\n",
            ),
            (
                RefType.BRANCH,
                "manchu",
                "e22fcb49645b4586a845938afac5eb3ac1950586",
                None,
                None,
                "Alt universe change\n",
            ),
            (
                RefType.TAG,
                "v0.1",
                "1986c228494671574242f99b62d1a00a4bfb69a5",
                None,
                None,
                "Merged in foo (pull request #2)\n\nREADME.md edited online with Bitbucket\n",
            ),
        ],
    ),
}


@pytest.mark.parametrize("name", sorted(CLOUD_PUSHES))
def test_cloud_pushes_become_one_event_per_change(name):
    repository, expected = CLOUD_PUSHES[name]
    body = (CLOUD / name).read_bytes()
    assert bitbucket.repository_name(cloud_headers(), body) == repository
    delivery = bitbucket.parse(cloud_headers(), body)
    assert delivery.ignored is None
    assert delivery.delivery_id == "req-1"
    assert summary(delivery) == expected
    for event in delivery.events:
        assert event.provider == "bitbucket"
        assert event.repository == repository
        assert event.delivery_id == "req-1"


def test_multiple_changes_give_three_events():
    delivery = bitbucket.parse(
        cloud_headers(), (CLOUD / "repo-push-multiple-changes.json").read_bytes()
    )
    assert [e.ref_name for e in delivery.events] == ["main", "manchu", "v0.1"]


def test_forced_and_truncated_push_has_unknown_changed_files():
    body = (CLOUD / "repo-push-forced-truncated.json").read_bytes()
    (event,) = bitbucket.parse(cloud_headers(), body).events
    assert event.changed_files is None


@pytest.mark.parametrize("name", ["repo-push-branch-deleted.json", "repo-push-tag-deleted.json"])
def test_cloud_deletions_are_ignored(name):
    delivery = bitbucket.parse(cloud_headers(), (CLOUD / name).read_bytes())
    assert delivery.events == ()
    assert "deleted" in (delivery.ignored or "")


def test_a_deletion_next_to_an_update_drops_only_the_deletion():
    payload = json.loads((CLOUD / "repo-push-branch-update.json").read_bytes())
    deleted = json.loads((CLOUD / "repo-push-branch-deleted.json").read_bytes())
    payload["push"]["changes"].append(deleted["push"]["changes"][0])
    delivery = bitbucket.parse(cloud_headers(), json.dumps(payload).encode())
    assert [e.ref_name for e in delivery.events] == ["main"]


def test_cloud_delivery_without_request_uuid_gets_a_body_derived_id():
    body = (CLOUD / "repo-push-branch-update.json").read_bytes()
    delivery = bitbucket.parse({"X-Event-Key": "repo:push"}, body)
    assert delivery.delivery_id == "sha256:" + hashlib.sha256(body).hexdigest()


def _cloud_with_new(**new_fields: object) -> bytes:
    payload = json.loads((CLOUD / "repo-push-branch-update.json").read_bytes())
    payload["push"]["changes"][0]["new"].update(new_fields)
    return json.dumps(payload).encode()


@pytest.mark.parametrize(
    "body",
    [
        _cloud_with_new(name="--upload-pack=x"),
        _cloud_with_new(name="main\nx"),
        _cloud_with_new(name="a" * 300),
        _cloud_with_new(name="a..b"),
        _cloud_with_new(name=None),
        _cloud_with_new(target={"hash": "nothex"}),
        _cloud_with_new(target=None),
        b'{"repository": {"full_name": "a/b"}, "push": {"changes": "x"}}',
        b'{"repository": {"full_name": "a/b"}}',
        b"{bad json",
        b"\xc3\x28",
    ],
)
def test_malformed_cloud_pushes_are_payload_errors(body):
    with pytest.raises(PayloadError):
        bitbucket.parse(cloud_headers(), body)


# --- Bitbucket Server / Data Center ---------------------------------------------------------------

SERVER_PUSHES = {
    "refs-changed-branch-update.json": (
        "AMUNIZ/test-repos",
        RefType.BRANCH,
        "main",
        "9fdd7b96d3f5c276d0b9e0bf38c879eb112d889a",
        "a8c13e8850dc60300be720019d1ffc1aa2fded87",
        "source-2: Wed 13 Nov 2024 21:54:36 AEST",
    ),
    "refs-changed-branch-update-minimal.json": (
        "PRJ/my-repo",
        RefType.BRANCH,
        "master",
        "823b2230a56056231c9425d63758fa87078a66b4",
        "5c64a07cd6c0f21b753bf261ef059c7e7633c50a",
        "",
    ),
    "refs-changed-branch-created.json": (
        "AMUNIZ/test-repos",
        RefType.BRANCH,
        "feature/BB-1",
        "fb522a6f08c7c7df337312e4e65ec1b57710672e",
        None,
        "Suppress echo command part",
    ),
    "refs-changed-tag-created.json": (
        "AMUNIZ/test-repos",
        RefType.TAG,
        "simple-tag",
        "fb522a6f08c7c7df337312e4e65ec1b57710672e",
        None,
        "Suppress echo command part",
    ),
    # toHash is the annotated tag object (118cc365...); toCommit is the commit it tags.
    "refs-changed-annotated-tag-created.json": (
        "AMUNIZ/test-repos",
        RefType.TAG,
        "annotated-tag",
        "fb522a6f08c7c7df337312e4e65ec1b57710672e",
        None,
        "Suppress echo command part",
    ),
}


@pytest.mark.parametrize("name", sorted(SERVER_PUSHES))
def test_server_pushes_become_events(name):
    repository, ref_type, ref_name, commit, before, message = SERVER_PUSHES[name]
    body = (SERVER / name).read_bytes()
    assert bitbucket.repository_name(server_headers(), body) == repository
    delivery = bitbucket.parse(server_headers(), body)
    assert delivery.delivery_id == "srv-1"
    assert summary(delivery) == [(ref_type, ref_name, commit, before, None, message)]
    assert delivery.events[0].repository == repository


@pytest.mark.parametrize(
    "name", ["refs-changed-branch-deleted.json", "refs-changed-tag-deleted.json"]
)
def test_server_deletions_are_ignored(name):
    delivery = bitbucket.parse(server_headers(), (SERVER / name).read_bytes())
    assert delivery.events == ()
    assert "deleted" in (delivery.ignored or "")


def test_server_ping_is_ignored_and_names_no_repository():
    body = (SERVER / "diagnostics-ping.json").read_bytes()
    ping = Headers({"X-Event-Key": "diagnostics:ping", "X-Request-Id": "p-1"})
    with pytest.raises(PingWithoutRepository):
        bitbucket.repository_name(ping, body)
    delivery = bitbucket.parse(ping, body)
    assert delivery.events == ()
    assert "ping" in (delivery.ignored or "")


def test_server_multi_ref_push_gives_one_event_per_change():
    payload = json.loads((SERVER / "refs-changed-branch-update-minimal.json").read_bytes())
    change = payload["changes"][0]
    payload["changes"].append(
        dict(
            change,
            ref={"id": "refs/tags/v2", "displayId": "v2", "type": "TAG"},
            refId="refs/tags/v2",
            fromHash="0" * 40,
            type="ADD",
        )
    )
    delivery = bitbucket.parse(server_headers(), json.dumps(payload).encode())
    assert [(e.ref_type, e.ref_name, e.before) for e in delivery.events] == [
        (RefType.BRANCH, "master", "5c64a07cd6c0f21b753bf261ef059c7e7633c50a"),
        (RefType.TAG, "v2", None),
    ]


def test_other_event_keys_are_ignored():
    body = (CLOUD / "repo-push-branch-update.json").read_bytes()
    delivery = bitbucket.parse(Headers({"X-Event-Key": "pullrequest:comment_created"}), body)
    assert delivery.ignored == "event 'pullrequest:comment_created' is not built"


def test_missing_event_key_is_a_payload_error():
    with pytest.raises(PayloadError, match="X-Event-Key"):
        bitbucket.parse({}, (CLOUD / "repo-push-branch-update.json").read_bytes())


def _server_with_change(**fields: object) -> bytes:
    payload = json.loads((SERVER / "refs-changed-branch-update.json").read_bytes())
    payload["changes"][0].update(fields)
    return json.dumps(payload).encode()


@pytest.mark.parametrize(
    "body",
    [
        _server_with_change(ref={"id": "refs/heads/--upload-pack=x", "type": "BRANCH"}),
        _server_with_change(ref={"id": "refs/heads/a\nb", "type": "BRANCH"}),
        _server_with_change(ref={"id": "refs/heads/" + "b" * 300, "type": "BRANCH"}),
        _server_with_change(toHash="123"),
        _server_with_change(fromHash=7),
        _server_with_change(type=None),
        b'{"repository": {"slug": "r", "project": {"key": "P"}}, "changes": [1]}',
        b'{"repository": {"slug": "r/x", "project": {"key": "P"}}, "changes": []}',
    ],
)
def test_malformed_server_pushes_are_payload_errors(body):
    with pytest.raises(PayloadError):
        bitbucket.parse(server_headers(), body)


def test_server_refs_outside_branches_and_tags_are_not_built():
    body = _server_with_change(ref={"id": "refs/pull-requests/1/from", "type": "BRANCH"})
    delivery = bitbucket.parse(server_headers(), body)
    assert delivery.events == ()
    assert delivery.ignored


def test_an_unbuilt_event_without_repository_is_ignored_not_refused():
    body = json.dumps({"eventKey": "pr:merged", "pullRequest": {"id": 1}}).encode()
    with pytest.raises(PingWithoutRepository, match="'pr:merged' is not built"):
        bitbucket.repository_name(Headers({"X-Event-Key": "pr:merged"}), body)
    with pytest.raises(PayloadError):
        bitbucket.repository_name(server_headers(), body)
