"""The host registry, the shared validation helpers, and: no body makes parse() raise anything but
a HostError."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import Headers

from app.hosts import HOSTS, get_host
from app.hosts import base as hostbase
from app.hosts.base import (
    HostError,
    PayloadError,
    SignatureError,
    check_ref,
    check_repository_name,
    check_sha,
    header,
    load_json_object,
    ref_name_problem,
    split_ref,
)
from core.events import Delivery, RefType

SHA = "a" * 40


def test_registry_names_every_provider_of_the_configuration():
    assert set(HOSTS) == {"github", "bitbucket", "gitlab", "gitea", "git"}
    for provider, module in HOSTS.items():
        assert get_host(provider) is module
        for function in ("repository_name", "verify", "parse"):
            assert callable(getattr(module, function))


def test_unknown_provider_has_no_host():
    assert get_host("svn") is None
    assert get_host("GitHub") is None


def test_errors_are_value_errors_with_one_base():
    for error in (PayloadError, SignatureError, hostbase.PingWithoutRepository):
        assert issubclass(error, HostError)
    assert issubclass(HostError, ValueError)


def test_headers_are_case_insensitive_for_dicts_and_werkzeug_headers():
    assert header({"x-github-event": "push"}, "X-GitHub-Event") == "push"
    assert header(Headers({"X-GITHUB-EVENT": "push"}), "X-GitHub-Event") == "push"
    assert header({}, "X-GitHub-Event") is None


@pytest.mark.parametrize(
    "ref",
    [
        "refs/heads/main",
        "refs/heads/feature/x",
        "refs/tags/v1.2.3",
        "refs/heads/ümlaut",
        "refs/heads/a-b_c+d=e,f",
    ],
)
def test_valid_ref_names_pass(ref):
    assert ref_name_problem(ref) is None


@pytest.mark.parametrize(
    "ref",
    [
        "",
        "refs/heads/a..b",
        "refs/heads/a b",
        "refs/heads/a~1",
        "refs/heads/a^",
        "refs/heads/a:b",
        "refs/heads/a?",
        "refs/heads/a*",
        "refs/heads/a[b",
        "refs/heads/a\\b",
        "refs/heads/a\nb",
        "refs/heads/a\x00b",
        "refs/heads/a\x7f",
        "refs/heads/a\u0085",
        "refs/heads/a@{1}",
        "@",
        "/refs/heads/a",
        "refs/heads/a/",
        "refs/heads//a",
        "refs/heads/a.",
        "refs/heads/.hidden",
        "refs/heads/x.lock",
        "refs/heads/" + "a" * 300,
    ],
)
def test_invalid_ref_names_are_refused(ref):
    assert ref_name_problem(ref) is not None
    with pytest.raises(PayloadError):
        check_ref(ref, "ref")


def test_branch_and_tag_names_come_back_short():
    assert split_ref("refs/heads/feature/x", "ref") == (RefType.BRANCH, "feature/x")
    assert split_ref("refs/tags/v1", "ref") == (RefType.TAG, "v1")
    assert split_ref("refs/pull/1/head", "ref") is None
    assert split_ref("refs/notes/commits", "ref") is None


@pytest.mark.parametrize("ref", ["refs/heads/--upload-pack=x", "refs/tags/-x", "refs/heads/"])
def test_names_that_look_like_options_or_are_empty_are_refused(ref):
    with pytest.raises(PayloadError):
        split_ref(ref, "ref")


@pytest.mark.parametrize("value", ["a" * 40, "0123456789abcdef" * 4])
def test_full_commit_ids_pass(value):
    assert check_sha(value, "after") == value


@pytest.mark.parametrize(
    "value", ["", "a" * 39, "a" * 41, "A" * 40, "g" * 40, "-" + "a" * 39, "a" * 40 + "\n"]
)
def test_other_commit_ids_are_refused(value):
    with pytest.raises(PayloadError):
        check_sha(value, "after")


@pytest.mark.parametrize("name", ["", " ", "a\nb", "a\tb", " a/b", "a/b ", "x" * 256])
def test_unusable_repository_names_are_refused(name):
    with pytest.raises(PayloadError):
        check_repository_name(name, "repository.full_name")


def test_json_that_is_not_an_object_or_too_deep_is_a_payload_error():
    for body in (b"[]", b"1", b"null", b'{"a": NaN}', b"[" * 100_000, b"\xff\xfe", b"{"):
        with pytest.raises(PayloadError):
            load_json_object(body)
    with pytest.raises(PayloadError):
        load_json_object(b'{"a": ' + b"1" * 5000 + b"}")


# --- every host, any body: a Delivery or a HostError, never anything else -------------------------

EVENT_HEADERS = [
    ("github", {"X-GitHub-Event": "push"}),
    ("github", {"X-GitHub-Event": "ping"}),
    ("github", {"X-GitHub-Event": "push", "Content-Type": "application/x-www-form-urlencoded"}),
    ("bitbucket", {"X-Event-Key": "repo:push"}),
    ("bitbucket", {"X-Event-Key": "repo:refs_changed"}),
    ("bitbucket", {"X-Event-Key": "diagnostics:ping"}),
    ("gitlab", {"X-Gitlab-Event": "Push Hook"}),
    ("gitlab", {"X-Gitlab-Event": "Tag Push Hook"}),
    ("gitlab", {"X-Gitlab-Event": "System Hook"}),
    ("gitea", {"X-Gitea-Event": "push"}),
    ("gitea", {"X-Gitea-Event": "push", "Content-Type": "application/x-www-form-urlencoded"}),
    ("git", {}),
]

KEYS = [
    "ref",
    "before",
    "after",
    "created",
    "deleted",
    "forced",
    "commits",
    "head_commit",
    "id",
    "message",
    "added",
    "modified",
    "removed",
    "repository",
    "full_name",
    "push",
    "changes",
    "new",
    "old",
    "type",
    "name",
    "target",
    "hash",
    "project",
    "path_with_namespace",
    "key",
    "slug",
    "toHash",
    "fromHash",
    "toCommit",
    "checkout_sha",
    "total_commits_count",
    "total_commits",
    "object_kind",
    "pushes",
    "delivery_id",
    "changed_files",
    "commit",
]
PLAUSIBLE = st.sampled_from(
    [
        SHA,
        "0" * 40,
        "refs/heads/main",
        "refs/tags/v1",
        "refs/heads/--x",
        "refs/pull/1/head",
        "main",
        "branch",
        "tag",
        "BRANCH",
        "TAG",
        "ADD",
        "DELETE",
        "push",
        "tag_push",
        "o/r",
    ]
)
scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
json_values = st.recursive(
    scalars | PLAUSIBLE,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=5), children, max_size=6)
    ),
    max_leaves=40,
)


def _check_any_body(provider: str, headers: dict[str, str], body: bytes) -> None:
    host = HOSTS[provider]
    with contextlib.suppress(HostError):
        assert isinstance(host.parse(headers, body), Delivery)
    with contextlib.suppress(HostError):
        assert isinstance(host.repository_name(headers, body), str)
    with contextlib.suppress(HostError):
        host.verify(headers, body, "secret")


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(choice=st.sampled_from(EVENT_HEADERS), body=st.binary(max_size=300))
def test_random_bytes_give_a_delivery_or_a_host_error(choice, body):
    provider, headers = choice
    _check_any_body(provider, headers, body)


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(choice=st.sampled_from(EVENT_HEADERS), value=json_values)
def test_random_json_gives_a_delivery_or_a_host_error(choice, value):
    provider, headers = choice
    body = json.dumps(value).encode()
    if "form" in headers.get("Content-Type", ""):
        from urllib.parse import urlencode

        body = urlencode({"payload": body.decode()}).encode()
    _check_any_body(provider, headers, body)


# --- real payloads with one value replaced: reaches the checks deep inside each parser ----------

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "webhooks"
FIXTURE_HEADERS = {
    "github": ("github", {"X-GitHub-Event": "push"}),
    "gitea": ("gitea", {"X-Gitea-Event": "push"}),
    "gitlab": ("gitlab", {"X-Gitlab-Event": "Push Hook"}),
    "bitbucket-cloud": ("bitbucket", {"X-Event-Key": "repo:push"}),
    "bitbucket-server": ("bitbucket", {"X-Event-Key": "repo:refs_changed"}),
}
PULL_REQUEST_HEADERS = {  # (folder, first word of the file name): the pull request event's headers
    ("github", "pull"): {"X-GitHub-Event": "pull_request"},
    ("gitea", "pull"): {"X-Gitea-Event": "pull_request"},
    ("gitlab", "merge"): {"X-Gitlab-Event": "Merge Request Hook"},
    ("bitbucket-cloud", "pullrequest"): {"X-Event-Key": "pullrequest:created"},
    ("bitbucket-server", "pr"): {"X-Event-Key": "pr:opened"},
}
PAYLOADS = sorted(
    (folder.name, path.name)
    for folder in FIXTURES.iterdir()
    if folder.is_dir()
    for path in folder.glob("*.json")
)


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*prefix, index))


def _replace(value, path, new):
    if not path:
        return new
    head, *rest = path
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[head] = _replace(value[head], rest, new)
    return copy


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(fixture=st.sampled_from(PAYLOADS), data=st.data())
def test_real_payloads_with_a_value_replaced_give_a_delivery_or_a_host_error(fixture, data):
    folder, name = fixture
    provider, headers = FIXTURE_HEADERS[folder]
    headers = PULL_REQUEST_HEADERS.get((folder, name.split("-")[0]), headers)
    payload = json.loads((FIXTURES / folder / name).read_bytes())
    paths = list(_paths(payload))
    path = paths[data.draw(st.integers(0, len(paths) - 1))]
    mutated = _replace(payload, path, data.draw(json_values))
    _check_any_body(provider, headers, json.dumps(mutated).encode())
