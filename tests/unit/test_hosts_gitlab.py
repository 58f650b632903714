"""GitLab: the secret token, Push Hook and Tag Push Hook payloads, subgroups, truncated lists."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from werkzeug.datastructures import Headers

from app.hosts import gitlab
from app.hosts.base import PayloadError, PingWithoutRepository, SignatureError
from core.events import RefType

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "webhooks" / "gitlab"


def load(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def headers(event: str = "Push Hook", **extra: str) -> Headers:
    return Headers({"X-Gitlab-Event": event, "X-Gitlab-Event-UUID": "ev-1", **extra})


def edited(name: str, **changes: object) -> bytes:
    payload = json.loads(load(name))
    payload.update(changes)
    return json.dumps(payload).encode()


# --- the token ------------------------------------------------------------------------------------


def test_matching_token_verifies():
    gitlab.verify(headers(**{"X-Gitlab-Token": "tok en"}), b"{}", "tok en")


@pytest.mark.parametrize("token", ["wrong", "tok", "tok en ", "", "TOK EN"])
def test_other_tokens_are_refused(token):
    with pytest.raises(SignatureError) as caught:
        gitlab.verify(headers(**{"X-Gitlab-Token": token}), b"{}", "tok en")
    assert "tok en" not in str(caught.value)


def test_missing_token_is_refused_naming_the_header():
    with pytest.raises(SignatureError, match="X-Gitlab-Token"):
        gitlab.verify(headers(), b"{}", "secret")


def test_non_ascii_token_compares_without_crashing():
    gitlab.verify({"X-Gitlab-Token": "häßlich"}, b"{}", "häßlich")
    with pytest.raises(SignatureError):
        gitlab.verify({"X-Gitlab-Token": "hässlich"}, b"{}", "häßlich")


# --- real payloads --------------------------------------------------------------------------------

PUSHES = {
    # 2 commits listed, total_commits_count 4: the file list is incomplete, so unknown.
    "push-hook-docs-example.json": (
        "Push Hook",
        "mike/diaspora",
        RefType.BRANCH,
        "master",
        "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
        "95790bf891e76fee5e1747ab589903a6a1f80f22",
        None,
        "fixed readme\n",
    ),
    "push-hook-subgroup.json": (
        "Push Hook",
        "group1/group2/group3/grp2repo",
        RefType.BRANCH,
        "master",
        "2adc9465c4edfc33834e173fe89436a7cb899a1d",
        "9217710ce8c7e1eae7a5d1c45f6e43e1c769f866",
        ("README.md",),
        "added readme\n",
    ),
    "tag-push-hook-docs-example.json": (
        "Tag Push Hook",
        "jsmith/example",
        RefType.TAG,
        "v1.0.0",
        "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7",
        None,
        None,
        "Merge branch 'some-feature' into 'master'\n\nRelease v1.0.0\n\n"
        "See merge request jsmith/example!1",
    ),
    "tag-push-hook-goscm.json": (
        "Tag Push Hook",
        "gitlab-org/hello-world",
        RefType.TAG,
        "v1.0.0",
        "2adc9465c4edfc33834e173fe89436a7cb899a1d",
        None,
        None,
        "added readme\n",
    ),
}


@pytest.mark.parametrize("name", sorted(PUSHES))
def test_push_payloads_become_one_event(name):
    event_header, repository, ref_type, ref_name, commit, before, changed, message = PUSHES[name]
    body = load(name)
    assert gitlab.repository_name(headers(event_header), body) == repository
    delivery = gitlab.parse(headers(event_header), body)
    assert delivery.ignored is None
    assert delivery.delivery_id == "ev-1"
    (event,) = delivery.events
    assert event.provider == "gitlab"
    assert event.repository == repository
    assert (event.ref_type, event.ref_name, event.commit, event.before) == (
        ref_type,
        ref_name,
        commit,
        before,
    )
    assert event.changed_files == changed
    assert event.head_message == message
    assert event.delivery_id == "ev-1"


def test_branch_deletion_is_ignored():
    delivery = gitlab.parse(headers(), load("push-hook-branch-deleted.json"))
    assert delivery.events == ()
    assert "deleted" in (delivery.ignored or "")


def test_complete_commit_list_gives_the_changed_files():
    body = edited("push-hook-docs-example.json", total_commits_count=2)
    (event,) = gitlab.parse(headers(), body).events
    assert event.changed_files == ("CHANGELOG", "app/controller/application.rb")


def test_checkout_sha_is_the_commit_and_picks_the_head_message():
    payload = json.loads(load("push-hook-docs-example.json"))
    payload["after"] = "e" * 40  # e.g. an annotated tag object
    payload["checkout_sha"] = payload["commits"][0]["id"]
    (event,) = gitlab.parse(headers(), json.dumps(payload).encode()).events
    assert event.commit == "b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327"
    assert event.head_message.startswith("Merge branch 'some-feature'")


def test_without_checkout_sha_after_is_the_commit():
    body = edited("push-hook-subgroup.json", checkout_sha=None)
    assert gitlab.parse(headers(), body).events[0].commit == (
        "2adc9465c4edfc33834e173fe89436a7cb899a1d"
    )


def test_idempotency_key_is_preferred_for_the_delivery_id():
    delivery = gitlab.parse(
        headers(**{"Idempotency-Key": "idem-7"}), load("push-hook-subgroup.json")
    )
    assert delivery.delivery_id == "idem-7"
    assert delivery.events[0].delivery_id == "idem-7"


def test_system_hook_pushes_are_built():
    delivery = gitlab.parse(headers("System Hook"), load("push-hook-subgroup.json"))
    assert len(delivery.events) == 1


def test_other_events_are_ignored():
    body = json.dumps({"object_kind": "note", "project": {"path_with_namespace": "a/b"}})
    delivery = gitlab.parse(headers("Note Hook"), body.encode())
    assert delivery.ignored == "event 'Note Hook' is not built"


def test_refs_outside_branches_and_tags_are_ignored():
    body = edited("push-hook-subgroup.json", ref="refs/merge-requests/1/head")
    delivery = gitlab.parse(headers(), body)
    assert delivery.events == ()
    assert delivery.ignored


@pytest.mark.parametrize(
    "body",
    [
        b"{",
        b"\x80abc",
        edited("push-hook-subgroup.json", ref="refs/heads/--upload-pack=x"),
        edited("push-hook-subgroup.json", ref="refs/heads/x\ny"),
        edited("push-hook-subgroup.json", ref="refs/tags/" + "v" * 300),
        edited("push-hook-subgroup.json", ref=None),
        edited("push-hook-subgroup.json", after="zz"),
        edited("push-hook-subgroup.json", checkout_sha="HEAD"),
        edited("push-hook-subgroup.json", total_commits_count="4"),
        edited("push-hook-subgroup.json", commits={"id": "x"}),
        edited("push-hook-subgroup.json", project={"path_with_namespace": "a\nb"}),
        edited("push-hook-subgroup.json", project=None),
        edited("push-hook-subgroup.json", object_kind="tag_push"),
    ],
)
def test_malformed_pushes_are_payload_errors(body):
    with pytest.raises(PayloadError):
        gitlab.parse(headers(), body)


def test_missing_event_header_is_a_payload_error():
    with pytest.raises(PayloadError, match="X-Gitlab-Event"):
        gitlab.parse({}, load("push-hook-subgroup.json"))


def test_an_unbuilt_event_without_project_is_ignored_not_refused():
    body = json.dumps({"event_name": "user_add_to_group", "group_path": "g"}).encode()
    with pytest.raises(PingWithoutRepository, match="'Member Hook' is not built"):
        gitlab.repository_name(headers("Member Hook"), body)
    with pytest.raises(PayloadError):
        gitlab.repository_name(headers("Push Hook"), body)
