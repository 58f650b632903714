"""GitHub: signatures, the real payloads from tests/fixtures/webhooks/github, and hostile bodies."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
from werkzeug.datastructures import Headers

from app.hosts import github
from app.hosts.base import PayloadError, PingWithoutRepository, SignatureError
from core.events import RefType

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "webhooks" / "github"
FORM = "application/x-www-form-urlencoded"


def load(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def headers(event: str = "push", **extra: str) -> Headers:
    return Headers({"X-GitHub-Event": event, "X-GitHub-Delivery": "guid-1", **extra})


def signed(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def edited(name: str, **changes: object) -> bytes:
    payload = json.loads(load(name))
    payload.update(changes)
    return json.dumps(payload).encode()


# --- signatures -----------------------------------------------------------------------------------

DOCS_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def test_githubs_documented_vector_verifies():
    github.verify(
        headers(**{"X-Hub-Signature-256": DOCS_SIGNATURE}),
        b"Hello, World!",
        "It's a Secret to Everybody",
    )


def test_signed_ping_fixture_verifies_with_its_secret():
    signature = "sha256=85e61999573c7023720a12375e1e55d18a0870e1ef880736f6ffc9273d0519e3"
    github.verify(
        headers("ping", **{"X-Hub-Signature-256": signature}),
        load("ping-signed-secret-123.json"),
        "123",
    )


def test_signature_header_name_is_case_insensitive():
    github.verify(
        {"x-hub-signature-256": DOCS_SIGNATURE}, b"Hello, World!", "It's a Secret to Everybody"
    )


@pytest.mark.parametrize(
    "value",
    [
        DOCS_SIGNATURE[:-1] + "f",
        "sha256=",
        "sha256=zz",
        DOCS_SIGNATURE.replace("sha256=", "sha1="),
        DOCS_SIGNATURE.removeprefix("sha256="),
        "",
    ],
)
def test_wrong_signatures_are_refused_without_echoing_the_expected_value(value):
    with pytest.raises(SignatureError) as caught:
        github.verify(
            headers(**{"X-Hub-Signature-256": value}),
            b"Hello, World!",
            "It's a Secret to Everybody",
        )
    assert "757107ea" not in str(caught.value)


def test_a_changed_body_is_refused():
    with pytest.raises(SignatureError):
        github.verify(
            headers(**{"X-Hub-Signature-256": DOCS_SIGNATURE}),
            b"Hello, World?",
            "It's a Secret to Everybody",
        )


def test_missing_signature_is_refused_naming_the_header():
    with pytest.raises(SignatureError, match="X-Hub-Signature-256"):
        github.verify(headers(), b"{}", "secret")


def test_sha1_signature_alone_is_refused():
    sha1 = "sha1=355e155fc3d10c4e5f2c6086a01281d2e947d932"
    with pytest.raises(SignatureError, match="SHA-1"):
        github.verify(
            headers("ping", **{"X-Hub-Signature": sha1}), load("ping-signed-secret-123.json"), "123"
        )


def test_an_empty_secret_never_verifies():
    body = b"{}"
    with pytest.raises(SignatureError):
        github.verify(headers(**{"X-Hub-Signature-256": signed(body, "")}), body, "")


def test_form_bodies_are_verified_over_the_bytes_as_sent():
    json_body = load("push-branch-update-jenkins.json")
    form_body = urlencode({"payload": json_body.decode()}).encode()
    github.verify(
        headers(**{"Content-Type": FORM, "X-Hub-Signature-256": signed(form_body, "s")}),
        form_body,
        "s",
    )
    with pytest.raises(SignatureError):
        github.verify(
            headers(**{"Content-Type": FORM, "X-Hub-Signature-256": signed(json_body, "s")}),
            form_body,
            "s",
        )


# --- real payloads --------------------------------------------------------------------------------

PUSHES = {
    "push-branch-update.json": (
        "Codertocat/Hello-World",
        RefType.BRANCH,
        "master",
        "199eddf46df50de8d02e99bf1c5fdb4101338224",
        "a10867b14bb761a232cd80139fbd4c0d33264240",
        ("README.md",),
        "Update README",
    ),
    "push-branch-update-developer-docs.json": (
        "baxterthehacker/public-repo",
        RefType.BRANCH,
        "changes",
        "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",
        "9049f1265b7d61be4a8904a9a27120d2064dab3b",
        ("README.md",),
        "Update README.md",
    ),
    "push-branch-update-jenkins.json": (
        "lanwen/test",
        RefType.BRANCH,
        "master",
        "1eee2db8927ab3f7ec983b2e6052f351dd61a419",
        "a5e67044f52db16f5c128bd898083d38871fd9e7",
        ("README.md",),
        "Update README.md",
    ),
    "push-branch-created-first-commit.json": (
        "Codertocat/Hello-World",
        RefType.BRANCH,
        "master",
        "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
        None,
        None,
        "Initial commit",
    ),
    "push-branch-created-no-commits.json": (
        "bradrydzewski/drone-test-go",
        RefType.BRANCH,
        "feature-branch",
        "d2b75aa7797ec26b088fa2dd527e9d2c052fcedd",
        None,
        None,
        "Update .drone.yml",
    ),
    "push-tag-created.json": (
        "bradrydzewski/drone-test-go",
        RefType.TAG,
        "v0.0.1",
        "d2b75aa7797ec26b088fa2dd527e9d2c052fcedd",
        None,
        None,
        "Update .drone.yml",
    ),
}


@pytest.mark.parametrize("name", sorted(PUSHES))
def test_push_payloads_become_one_event(name):
    repository, ref_type, ref_name, commit, before, changed, message = PUSHES[name]
    body = load(name)
    assert github.repository_name(headers(), body) == repository
    delivery = github.parse(headers(), body)
    assert delivery.ignored is None
    assert delivery.delivery_id == "guid-1"
    (event,) = delivery.events
    assert event.provider == "github"
    assert event.repository == repository
    assert event.ref_type is ref_type
    assert event.ref_name == ref_name
    assert event.commit == commit
    assert event.before == before
    assert event.changed_files == changed
    assert event.head_message == message
    assert event.delivery_id == "guid-1"


@pytest.mark.parametrize("name", ["push-branch-deleted.json", "push-tag-deleted.json"])
def test_deletions_are_ignored(name):
    delivery = github.parse(headers(), load(name))
    assert delivery.events == ()
    assert "deleted" in (delivery.ignored or "")


@pytest.mark.parametrize(
    "name", ["ping-octokit-example.json", "ping-developer-docs.json", "ping-signed-secret-123.json"]
)
def test_pings_are_ignored(name):
    delivery = github.parse(headers("ping"), load(name))
    assert delivery.events == ()
    assert "ping" in (delivery.ignored or "")


@pytest.mark.parametrize(
    ("name", "event"),
    [
        ("create-branch.json", "create"),
        ("create-tag.json", "create"),
        ("delete-branch.json", "delete"),
        ("delete-tag.json", "delete"),
    ],
)
def test_create_and_delete_events_are_ignored_because_push_covers_them(name, event):
    delivery = github.parse(headers(event), load(name))
    assert delivery.events == ()
    assert "push events already cover them" in (delivery.ignored or "")


def test_other_events_are_ignored_by_name():
    delivery = github.parse(headers("issues"), load("push-branch-update.json"))
    assert delivery.ignored == "event 'issues' is not built"


def test_an_organization_ping_without_repository_is_a_ping():
    body = json.dumps({"zen": "Keep it logically awesome.", "hook_id": 1, "hook": {}}).encode()
    with pytest.raises(PingWithoutRepository):
        github.repository_name(headers("ping"), body)
    assert github.parse(headers("ping"), body).ignored


def test_form_encoded_push_parses_like_json():
    json_body = load("push-branch-update-jenkins.json")
    form_body = urlencode({"payload": json_body.decode()}).encode()
    as_json = github.parse(headers(), json_body)
    as_form = github.parse(headers(**{"Content-Type": FORM}), form_body)
    assert as_form.events == as_json.events
    assert github.repository_name(headers(**{"Content-Type": FORM}), form_body) == "lanwen/test"


def test_form_body_without_content_type_is_recognised():
    json_body = load("push-branch-update.json")
    form_body = b"payload=" + quote(json_body.decode()).encode()
    assert github.parse(headers(), form_body).events == github.parse(headers(), json_body).events


def test_json_with_charset_parameter_is_json():
    body = load("push-branch-update.json")
    delivery = github.parse(headers(**{"Content-Type": "application/json; charset=utf-8"}), body)
    assert len(delivery.events) == 1


def test_missing_delivery_header_gives_a_stable_id_from_the_body():
    body = load("push-branch-update.json")
    first = github.parse({"X-GitHub-Event": "push"}, body)
    again = github.parse({"X-GitHub-Event": "push"}, body)
    other = github.parse({"X-GitHub-Event": "push"}, load("push-branch-update-jenkins.json"))
    assert first.delivery_id == again.delivery_id == "sha256:" + hashlib.sha256(body).hexdigest()
    assert first.delivery_id != other.delivery_id
    assert first.events[0].delivery_id == first.delivery_id


def test_forced_push_has_unknown_changed_files():
    delivery = github.parse(headers(), edited("push-branch-update.json", forced=True))
    assert delivery.events[0].changed_files is None


def test_commit_list_at_githubs_cap_has_unknown_changed_files():
    payload = json.loads(load("push-branch-update.json"))
    payload["commits"] = payload["commits"] * 2048
    delivery = github.parse(headers(), json.dumps(payload).encode())
    assert delivery.events[0].changed_files is None


def test_changed_files_join_added_modified_and_removed_of_every_commit():
    payload = json.loads(load("push-branch-update.json"))
    first = dict(payload["commits"][0], added=["a.txt"], modified=["README.md"], removed=[])
    second = dict(payload["commits"][0], added=[], modified=["a.txt"], removed=["old/b.txt"])
    payload["commits"] = [first, second]
    delivery = github.parse(headers(), json.dumps(payload).encode())
    assert delivery.events[0].changed_files == ("a.txt", "README.md", "old/b.txt")


def test_update_listing_no_commits_has_unknown_changed_files():
    delivery = github.parse(headers(), edited("push-branch-update.json", commits=[]))
    assert delivery.events[0].changed_files is None


def test_annotated_tag_builds_the_tagged_commit_not_the_tag_object():
    body = edited("push-tag-created.json", after="f" * 40)
    event = github.parse(headers(), body).events[0]
    assert event.commit == "d2b75aa7797ec26b088fa2dd527e9d2c052fcedd"


def test_refs_outside_branches_and_tags_are_ignored():
    delivery = github.parse(headers(), edited("push-branch-update.json", ref="refs/pull/1/head"))
    assert delivery.events == ()
    assert "neither a branch nor a tag" in (delivery.ignored or "")


# --- hostile and broken bodies --------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"\xff\xfe{}",
        b"[]",
        b"",
        edited("push-branch-update.json", ref=None),
        edited("push-branch-update.json", ref="refs/heads/--upload-pack=x"),
        edited("push-branch-update.json", ref="refs/heads/main\nX-Injected: 1"),
        edited("push-branch-update.json", ref="refs/heads/" + "a" * 300),
        edited("push-branch-update.json", ref="refs/heads/a..b"),
        edited("push-branch-update.json", ref=42),
        edited("push-branch-update.json", after="HEAD"),
        edited("push-branch-update.json", after="199EDDF46DF50DE8D02E99BF1C5FDB4101338224"),
        edited("push-branch-update.json", before="--output=/tmp/x"),
        edited("push-branch-update.json", commits="many"),
        edited("push-branch-update.json", commits=[{"added": [1]}]),
        edited("push-branch-update.json", head_commit="abc"),
        edited("push-branch-update.json", forced="yes"),
        edited("push-branch-update.json", repository={"full_name": "x" * 300}),
        edited("push-branch-update.json", repository={"full_name": "a/b\nc"}),
        edited("push-branch-update.json", repository=None),
    ],
)
def test_malformed_pushes_are_payload_errors(body):
    with pytest.raises(PayloadError):
        github.parse(headers(), body)


def test_missing_event_header_is_a_payload_error():
    with pytest.raises(PayloadError, match="X-GitHub-Event"):
        github.parse({}, load("push-branch-update.json"))


@pytest.mark.parametrize(
    "body", [b"payload=%FF", b"payload=1&payload=2", b"other=1", b"payload=" + b"&x=1" * 200]
)
def test_malformed_form_bodies_are_payload_errors(body):
    with pytest.raises(PayloadError):
        github.parse(headers(**{"Content-Type": FORM}), body)


def test_repository_name_of_a_broken_body_is_a_payload_error():
    for body in (b"nope", b"{}", json.dumps({"repository": {"full_name": 1}}).encode()):
        with pytest.raises(PayloadError):
            github.repository_name(headers(), body)


def test_unusable_delivery_header_is_a_payload_error():
    with pytest.raises(PayloadError):
        github.parse(headers(**{"X-GitHub-Delivery": "a b\tc"}), load("push-branch-update.json"))


def test_an_unbuilt_event_without_repository_is_ignored_not_refused():
    body = json.dumps({"action": "member_added", "organization": {"login": "o"}}).encode()
    with pytest.raises(PingWithoutRepository, match="'organization' is not built"):
        github.repository_name(headers("organization"), body)
    with pytest.raises(PayloadError):
        github.repository_name(headers("push"), body)


def test_a_tag_push_carries_the_branch_github_names_as_base_ref() -> None:
    (event,) = github.parse(headers(), load("push-tag-created.json")).events
    assert event.base_ref == "master"


def test_a_tag_push_without_base_ref_has_none_and_a_branch_push_never_has_one() -> None:
    (tag,) = github.parse(headers(), edited("push-tag-created.json", base_ref=None)).events
    assert tag.base_ref is None
    branch_body = edited("push-branch-update.json", base_ref="refs/heads/main")
    (branch,) = github.parse(headers(), branch_body).events
    assert branch.base_ref is None
