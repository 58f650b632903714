"""Every webhook and API endpoint fuzzed against the OpenAPI document the app serves
(schemathesis, through the WSGI app on the real Redis): no answer is a 5xx, every status code and
content type is one the document lists, and every JSON answer matches its schema.

Run twice per operation: anonymously, and with the admin token (so cancel, retry and the manual
trigger get past authentication and their own checks are fuzzed too). Redis is up, so the
documented 503 never happens here.

A second, hypothesis-driven fuzz signs what it sends with the right secret, so the payload parsers,
rule matching and dispatch behind the signature check are reached: real deliveries of every host
with one value replaced by arbitrary JSON never produce a 5xx, and whatever they queue has a
valid ref name and commit id.
"""

from __future__ import annotations

import copy
import json
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import (  # public names, resolved through schemathesis' registry
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from app import openapi
from app.hosts.base import ref_name_problem
from tests.integration.host_payloads import FIXTURES, hex_hmac
from tests.integration.services import create_git_repo
from tests.integration.webhook_helpers import make_app, make_settings

pytestmark = pytest.mark.integration

ADMIN_TOKEN = "fuzz-admin-token-0123456789"
SECRET = "fuzz-webhook-secret-0123456789"
TRIGGER_TOKEN = "fuzz-trigger-token-0123456789"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
NAMES = {
    "github": "octo/fuzz",
    "bitbucket": "octo/fuzz",
    "gitlab": "octo/fuzz",
    "gitea": "octo/fuzz",
    "git": "octo/fuzz",
}


def _config(path: Path, clone_url: str) -> Path:
    entries = []
    for provider, name in NAMES.items():
        entries.append(
            textwrap.dedent(
                f"""\
                  - provider: {provider}
                    name: {name}
                    clone_url: {clone_url}
                    image: 127.0.0.1:5000/autobuild-test/fuzz-{provider}
                    webhook_secret_env: FUZZ_SECRET
                    trigger_token_env: FUZZ_TRIGGER
                    build_rules:
                      - source_type: branch
                        source: /^(.+)$/
                        docker_tag: '{{sourceref}}'
                      - source_type: tag
                        source: /^v([0-9.]+)$/
                        docker_tag: '{{\\1}}'
                """
            )
        )
    path.write_text("repositories:\n" + "".join(entries))
    return path


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory, redis_url):
    root = tmp_path_factory.mktemp("fuzz")
    repo = create_git_repo(root / "repo", {"Dockerfile": "FROM scratch\n"})
    repo.tag("v1.0")
    config = _config(root / "autobuild.yml", repo.url)
    app_settings = make_settings(
        config,
        redis_url,
        root,
        FUZZ_SECRET=SECRET,
        FUZZ_TRIGGER=TRIGGER_TOKEN,
        AUTOBUILD_ADMIN_TOKEN=ADMIN_TOKEN,
        AUTOBUILD_MAX_QUEUED="50",
        AUTOBUILD_MAX_BODY_BYTES=str(64 * 1024),
    )
    app = make_app(app_settings)
    app.testing = False  # exceptions become answers (500), as in production: the fuzz sees them
    return app


# The document the app serves at /api/v1/openapi.json (tests/unit/test_openapi.py checks that the
# served one is this one). Loaded at import, as schemathesis parametrizes at collection time; the
# app is handed to each call.
schema = schemathesis.openapi.from_dict(openapi.document())


def test_the_app_serves_the_document_the_fuzz_uses(fuzz_app):
    assert fuzz_app.test_client().get("/api/v1/openapi.json").get_json() == openapi.document()


@schema.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_endpoint_answers_a_server_error_or_an_undocumented_answer(fuzz_app, case):
    case.call_and_validate(app=fuzz_app, checks=CHECKS)


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_with_the_admin_token_no_endpoint_answers_a_server_error(fuzz_app, case):
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    case.call_and_validate(app=fuzz_app, headers=admin, checks=CHECKS)


# --- signed deliveries, fuzzed behind the signature check ----------------------------------------

DELIVERIES = [
    ("github", "github/push-branch-update.json", {"X-GitHub-Event": "push"}),
    ("github", "github/push-tag-created.json", {"X-GitHub-Event": "push"}),
    ("gitea", "gitea/push-branch.json", {"X-Gitea-Event": "push"}),
    ("gitlab", "gitlab/push-hook-docs-example.json", {"X-Gitlab-Event": "Push Hook"}),
    ("gitlab", "gitlab/tag-push-hook-docs-example.json", {"X-Gitlab-Event": "Tag Push Hook"}),
    ("bitbucket", "bitbucket-cloud/repo-push-branch-update.json", {"X-Event-Key": "repo:push"}),
    (
        "bitbucket",
        "bitbucket-server/refs-changed-branch-update.json",
        {"X-Event-Key": "repo:refs_changed"},
    ),
    ("git", None, {}),  # the git hook's own format (app.hosts.git): no host fixture
]
# What `autobuild git-hook` sends for a push of a branch and of an annotated tag (no delivery_id:
# each mutated body is then a delivery of its own, derived from its sha256, not a duplicate).
GIT_HOOK_PUSH = {
    "repository": NAMES["git"],
    "pushes": [
        {
            "ref": "refs/heads/main",
            "before": "1" * 40,
            "after": "2" * 40,
            "changed_files": ["Dockerfile"],
            "head_message": "a commit",
        },
        {"ref": "refs/tags/v1.2", "before": None, "after": "3" * 40, "commit": "4" * 40},
    ],
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3)
    ),
    max_leaves=8,
)
hostile_refs = st.sampled_from(
    [
        "refs/heads/--upload-pack=touch /tmp/pwned",
        "refs/heads/-c",
        "refs/heads/../../x",
        "refs/heads/a\nb",
        "refs/heads/" + "a" * 300,
        "refs/tags/-x",
        "--upload-pack=x",
        "refs/heads/ok/../../etc",
        "refs/heads/\udcff",
    ]
)


def _paths(value: object, prefix: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    found: list[tuple[object, ...]] = []
    if isinstance(value, dict):
        for key, child in value.items():
            found.append((*prefix, key))
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found.append((*prefix, index))
            found += _paths(child, (*prefix, index))
    return found


def _rename_repository(payload: dict, provider: str) -> dict:
    """Point a real payload at the fuzz repository (octo/fuzz), however the host names it."""
    text = json.dumps(payload)
    data = json.loads(text)
    if provider == "github" or provider == "gitea":
        data["repository"]["full_name"] = NAMES[provider]
    elif provider == "gitlab":
        data["project"]["path_with_namespace"] = NAMES[provider]
    elif "full_name" in data.get("repository", {}):
        data["repository"]["full_name"] = NAMES[provider]
    else:  # Bitbucket Server: project key / slug
        data["repository"]["project"]["key"] = "octo"
        data["repository"]["slug"] = "fuzz"
    return data


def _sign(provider: str, body: bytes) -> dict[str, str]:
    if provider == "gitlab":
        return {"X-Gitlab-Token": SECRET}
    if provider == "gitea":
        return {"X-Gitea-Signature": hex_hmac(SECRET, body)}
    if provider == "git":
        return {"X-Autobuild-Signature": "sha256=" + hex_hmac(SECRET, body)}
    return {"X-Hub-Signature-256": "sha256=" + hex_hmac(SECRET, body)}


@pytest.fixture(scope="module")
def signed_client(fuzz_app):
    return fuzz_app.test_client()


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(choice=st.sampled_from(DELIVERIES), data=st.data())
def test_signed_deliveries_with_a_value_replaced_never_answer_a_server_error(
    signed_client, choice, data
):
    provider, fixture, headers = choice
    if fixture is None:
        payload = {**copy.deepcopy(GIT_HOOK_PUSH), "timestamp": int(time.time())}
    else:
        payload = _rename_repository(json.loads((FIXTURES / fixture).read_text()), provider)
    mutated = copy.deepcopy(payload)
    paths = _paths(mutated)
    path = data.draw(st.sampled_from(paths))
    replacement = data.draw(st.one_of(json_values, hostile_refs))
    target: Any = mutated
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = replacement
    body = json.dumps(mutated, ensure_ascii=data.draw(st.booleans())).encode(
        "utf-8", "surrogatepass"
    )
    answer = signed_client.post(
        f"/webhooks/{provider}",
        data=body,
        headers={**headers, **_sign(provider, body), "Content-Type": "application/json"},
    )
    assert answer.status_code < 500, answer.get_data(as_text=True)
    if answer.status_code == 202:
        for build in answer.get_json()["builds"]:
            prefix = "refs/heads/" if build["source_type"] == "branch" else "refs/tags/"
            assert ref_name_problem(prefix + build["source_name"]) is None, build
            assert not build["source_name"].startswith("-"), build
            assert len(build["commit"]) in (40, 64)
