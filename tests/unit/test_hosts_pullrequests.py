"""Pull (merge) request deliveries of every host: one pull request event each, forks told apart."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from werkzeug.datastructures import Headers

from app.hosts import bitbucket, gitea, github, gitlab
from app.hosts.base import HostModule, PayloadError
from core.events import Delivery, PullRequest, RefType

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "webhooks"


def load(path: str) -> bytes:
    return (FIXTURES / path).read_bytes()


def parse(host: HostModule, path: str, **head: str) -> Delivery:
    body = load(path)
    headers = Headers(head)
    host.repository_name(headers, body)  # the view asks first: it must not fail either
    return host.parse(headers, body)


def only_pull(delivery: Delivery) -> tuple[str, str, str, PullRequest]:
    assert delivery.ignored is None
    (event,) = delivery.events
    assert event.ref_type is RefType.PULL_REQUEST
    assert event.pull_request is not None
    assert event.ref_name == event.pull_request.base_ref
    return event.repository, event.commit, event.ref_name, event.pull_request


GH = {"X-GitHub-Event": "pull_request", "X-GitHub-Delivery": "d-1"}


def test_github_opened_pull_request_is_one_event_with_its_pull_ref():
    repository, commit, _base, pull = only_pull(
        parse(github, "github/pull-request-opened.json", **GH)
    )
    assert repository == "Codertocat/Hello-World"
    assert commit == "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
    assert pull == PullRequest(2, "changes", "master", False, "refs/pull/2/head")
    assert pull.ref_name == "pr/2"


def test_github_pull_request_from_a_fork_is_marked_fork():
    repository, commit, _, pull = only_pull(
        parse(github, "github/pull-request-opened-fork.json", **GH)
    )
    assert repository == "openshift-pipelines/pipelines-as-code"
    assert commit == "acf31f1e7b1f6982b596273b2492d86e5655c7f8"
    assert pull.fork and pull.head_ref == "yamls-beurk" and pull.base_ref == "main"
    assert pull.fetch_ref == "refs/pull/79/head"


@pytest.mark.parametrize("name", ["pull-request-synchronize.json", "pull-request-reopened.json"])
def test_github_new_commits_and_reopening_build(name):
    assert only_pull(parse(github, f"github/{name}", **GH))[3].number in (1, 2)


@pytest.mark.parametrize("name", ["pull-request-closed.json", "pull-request-closed-merged.json"])
def test_github_closed_pull_requests_are_ignored(name):
    delivery = parse(github, f"github/{name}", **GH)
    assert delivery.events == ()
    assert delivery.ignored == "pull request action 'closed' is not built"


def test_gitea_and_forgejo_pull_requests():
    _, commit, _, pull = only_pull(
        parse(gitea, "gitea/pull-request-opened.json", **{"X-Gitea-Event": "pull_request"})
    )
    assert commit == "2eba238e33607c1fa49253182e9fff42baafa1eb"
    assert pull == PullRequest(1, "feature", "master", False, "refs/pull/1/head")
    reopened = parse(
        gitea, "gitea/pull-request-reopened-forgejo.json", **{"X-Forgejo-Event": "pull_request"}
    )
    assert not only_pull(reopened)[3].fork
    closed = parse(
        gitea, "gitea/pull-request-closed-merged.json", **{"X-Gitea-Event": "pull_request"}
    )
    assert closed.events == () and closed.ignored


GL = {"X-Gitlab-Event": "Merge Request Hook"}


def test_gitlab_merge_request_open_uses_the_merge_request_ref():
    _, commit, base, pull = only_pull(parse(gitlab, "gitlab/merge-request-hook-open.json", **GL))
    assert len(commit) == 40
    assert pull.fetch_ref == f"refs/merge-requests/{pull.number}/head"
    assert not pull.fork and base == pull.base_ref


def test_gitlab_merge_request_from_another_project_is_a_fork():
    _, commit, base, pull = only_pull(
        parse(gitlab, "gitlab/merge-request-hook-open-fork.json", **GL)
    )
    assert commit == "125601039510dd5894d137f39e91a62cd46cd12c"
    assert pull.fork and pull.number == 2 and base == "main"
    assert pull.head_ref == "samchmou-main-patch-92252"


def test_gitlab_update_builds_only_with_new_commits():
    assert only_pull(parse(gitlab, "gitlab/merge-request-hook-update.json", **GL))
    edit = parse(gitlab, "gitlab/merge-request-hook-update-no-new-commit.json", **GL)
    assert edit.events == ()
    assert edit.ignored == "the merge request was updated without new commits"
    merged = parse(gitlab, "gitlab/merge-request-hook-merge.json", **GL)
    assert merged.events == () and "merge" in (merged.ignored or "")


def test_bitbucket_server_pull_requests_use_the_from_ref():
    repository, commit, _base, pull = only_pull(
        parse(
            bitbucket,
            "bitbucket-server/pr-from-ref-updated.json",
            **{"X-Event-Key": "pr:from_ref_updated"},
        )
    )
    assert repository == "PRJ/my-repo"
    assert commit == "c00d0f269a9844dd168f72f6a9d78a9cff49a318"
    assert pull == PullRequest(2, "feature-2", "master", False, "refs/pull-requests/2/from")
    fork = only_pull(
        parse(bitbucket, "bitbucket-server/pr-opened-fork.json", **{"X-Event-Key": "pr:opened"})
    )
    assert fork[0] == "DEV/deployment-automation" and fork[3].fork


def test_bitbucket_cloud_fork_names_the_forks_clone_url_and_an_abbreviated_commit():
    repository, commit, base, pull = only_pull(
        parse(
            bitbucket,
            "bitbucket-cloud/pullrequest-created-fork.json",
            **{"X-Event-Key": "pullrequest:created"},
        )
    )
    assert repository == "cloudbeers/temp"
    assert commit == "1c48041a96db"  # Bitbucket Cloud abbreviates: the worker resolves it
    assert pull.fork and pull.number == 3 and base == "master"
    assert pull.fetch_ref == "refs/heads/master"
    assert pull.fork_clone_url == "https://bitbucket.org/stephenc/temp-fork.git"


def test_bitbucket_cloud_pull_request_in_one_repository_is_not_a_fork():
    _, commit, _, pull = only_pull(
        parse(
            bitbucket,
            "bitbucket-cloud/pullrequest-updated.json",
            **{"X-Event-Key": "pullrequest:updated"},
        )
    )
    assert commit == "f945c96c71d0"
    assert not pull.fork and pull.fork_clone_url is None
    assert pull.head_ref == "release/release-1"


def test_a_pull_request_number_that_is_not_positive_is_refused():
    payload = json.loads(load("github/pull-request-opened.json"))
    payload["pull_request"]["number"] = 0
    with pytest.raises(PayloadError, match="not a pull request number"):
        github.parse(Headers(GH), json.dumps(payload).encode())


def test_a_head_branch_starting_with_a_dash_is_refused():
    payload = json.loads(load("github/pull-request-opened.json"))
    payload["pull_request"]["head"]["ref"] = "--upload-pack=x"
    with pytest.raises(PayloadError, match="must not start with '-'"):
        github.parse(Headers(GH), json.dumps(payload).encode())
