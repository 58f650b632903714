"""The rule language end to end (issue 3): what a push builds, checked in the real registry.

One build pushed under several tags with one digest (semver fan-out), build args that reach the
image, a path-filtered push that builds nothing, and skip markers, whichever host sent the push.
"""

from __future__ import annotations

import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest

from core.queue import build_queue
from tests.integration.host_payloads import (
    Commit,
    RefChange,
    SignedDelivery,
    bitbucket_cloud_push,
    bitbucket_server_refs_changed,
    built_revision,
    git_push,
    gitea_push,
    github_json_push,
    gitlab_push,
)
from tests.integration.webhook_helpers import (
    github_push,
    make_app,
    make_settings,
    post_github,
    registry_digest,
    run_burst_worker,
)

SECRET = "rules-e2e-webhook-secret-value"


@pytest.fixture
def image_path() -> str:
    return f"autobuild-test/rules-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def repo_name() -> str:
    """A repository name of this test's own, so its build list starts empty."""
    return f"rules/app-{uuid.uuid4().hex[:8]}"


def write_config(
    tmp_path: Path, provider: str, name: str, clone_url: str, image: str, rules: str
) -> Path:
    config = tmp_path / "autobuild.yml"
    head = textwrap.dedent(
        f"""\
        repositories:
          - provider: {provider}
            name: {name}
            clone_url: {clone_url}
            image: {image}
            webhook_secret_env: RULES_SECRET
            build_rules:
        """
    )
    config.write_text(head + textwrap.indent(textwrap.dedent(rules).strip() + "\n", " " * 6))
    return config


def builds_of(client: Any, provider: str, repository: str) -> list[dict[str, Any]]:
    answer = client.get(
        "/api/v1/builds", query_string={"provider": provider, "repository": repository}
    )
    assert answer.status_code == 200
    builds: list[dict[str, Any]] = answer.get_json()["builds"]
    return builds


def work_off(settings: Any, client: Any, build_id: str) -> dict[str, Any]:
    worker = run_burst_worker(settings)
    assert worker.returncode == 0, worker.stderr[-2000:]
    build: dict[str, Any] = client.get(f"/api/v1/builds/{build_id}").get_json()
    return build


# --- build once, tag many ------------------------------------------------------------------------


SEMVER_RULES = r"""
- source_type: tag
  source: /^v([0-9]+)\.([0-9]+)\.([0-9]+)$/
  docker_tag: ['{\1}.{\2}.{\3}', '{\1}.{\2}']
- source_type: Tag
  source: /^v([0-9]+)\.([0-9]+)\.([0-9]+)$/
  docker_tag: '{\1},latest'
- source_type: branch
  source: main
  docker_tag: edge
"""


def test_semver_tag_push_is_one_build_pushed_under_four_tags_with_one_digest(
    tmp_path, redis_url, registry_url, base_image, make_git_repo, image_path, repo_name
):
    repo = make_git_repo({"Dockerfile": f"FROM {base_image}\nRUN echo semver > /v.txt\n"}, "main")
    tagged = repo.tag("v1.2.3")
    config = write_config(
        tmp_path, "github", repo_name, repo.url, f"{registry_url}/{image_path}", SEMVER_RULES
    )
    settings = make_settings(config, redis_url, tmp_path, RULES_SECRET=SECRET)
    client = make_app(settings).test_client()

    answer = post_github(client, SECRET, github_push(repo_name, "refs/tags/v1.2.3", tagged))

    assert answer.status_code == 202, answer.json
    (queued,) = answer.json["builds"]
    assert queued["docker_tags"] == ["1.2.3", "1.2", "1", "latest"]
    build = work_off(settings, client, queued["id"])
    assert build["status"] == "success", build
    assert build["commit"] == tagged
    digests = {tag: registry_digest(registry_url, image_path, tag) for tag in build["docker_tags"]}
    assert digests == dict.fromkeys(["1.2.3", "1.2", "1", "latest"], build["digest"])
    assert registry_digest(registry_url, image_path, "edge") is None
    assert [b["id"] for b in builds_of(client, "github", repo_name)] == [build["id"]]


# --- build args ----------------------------------------------------------------------------------


def test_build_args_templates_reach_the_image(
    tmp_path,
    redis_url,
    registry_url,
    base_image,
    make_git_repo,
    image_path,
    repo_name,
    docker_client,
):
    dockerfile = (
        f'FROM {base_image}\nARG REVISION\nARG SOURCE\nRUN echo "$REVISION $SOURCE" > /x.txt\n'
    )
    repo = make_git_repo({"Dockerfile": dockerfile}, "main")
    commit = repo.head()
    rules = """
    - source_type: branch
      source: main
      docker_tag: latest
      build_args: {REVISION: '{short_sha}', SOURCE: 'branch-{sourceref}'}
    """
    config = write_config(
        tmp_path, "github", repo_name, repo.url, f"{registry_url}/{image_path}", rules
    )
    settings = make_settings(config, redis_url, tmp_path, RULES_SECRET=SECRET)
    client = make_app(settings).test_client()

    answer = post_github(client, SECRET, github_push(repo_name, "refs/heads/main", commit))

    assert answer.status_code == 202, answer.json
    (queued,) = answer.json["builds"]
    expected_args = {"REVISION": commit[:7], "SOURCE": "branch-main"}
    assert queued["build_args"] == expected_args
    build = work_off(settings, client, queued["id"])
    assert build["status"] == "success", build
    assert registry_digest(registry_url, image_path, "latest") == build["digest"]
    assert built_revision(registry_url, image_path, build["digest"]) == commit
    output = docker_client.containers.run(
        f"{registry_url}/{image_path}@{build['digest']}",
        ["cat", "/x.txt"],
        remove=True,
        network_mode="none",
    )
    assert output.decode() == f"{commit[:7]} branch-main\n"


# --- path filters --------------------------------------------------------------------------------


def test_push_changing_only_ignored_paths_builds_nothing(
    tmp_path, redis_url, redis_conn, registry_url, base_image, make_git_repo, image_path, repo_name
):
    repo = make_git_repo({"Dockerfile": f"FROM {base_image}\nRUN echo one > /v.txt\n"}, "main")
    first = repo.head()
    docs_only = repo.commit({"docs/readme.md": "# Usage\n"}, "document the image")
    rules = """
    - source_type: branch
      source: main
      docker_tag: latest
      paths:
        ignore: ['docs/**']
    """
    config = write_config(
        tmp_path, "github", repo_name, repo.url, f"{registry_url}/{image_path}", rules
    )
    settings = make_settings(config, redis_url, tmp_path, RULES_SECRET=SECRET)
    client = make_app(settings).test_client()
    queue = build_queue(redis_conn, settings.queue_name)

    push = github_push(
        repo_name, "refs/heads/main", docs_only, before=first, changed=("docs/readme.md",)
    )
    answer = post_github(client, SECRET, push)

    assert answer.status_code == 200, answer.json
    assert "ignored paths" in answer.json["ignored"]
    assert "builds" not in answer.json
    assert builds_of(client, "github", repo_name) == []
    assert queue.count == 0

    # The same filter lets a push through once a file outside docs/ changes.
    both = repo.commit(
        {"Dockerfile": f"FROM {base_image}\nRUN echo two > /v.txt\n", "docs/readme.md": "# 2\n"},
        "image and docs",
    )
    push = github_push(
        repo_name,
        "refs/heads/main",
        both,
        before=docs_only,
        changed=("Dockerfile", "docs/readme.md"),
    )
    answer = post_github(client, SECRET, push)
    assert answer.status_code == 202, answer.json
    (queued,) = answer.json["builds"]
    build = work_off(settings, client, queued["id"])
    assert build["status"] == "success", build
    assert build["commit"] == both
    assert registry_digest(registry_url, image_path, "latest") == build["digest"]


# --- skip markers --------------------------------------------------------------------------------


def skip_delivery(host: str, name: str, before: str, after: str, message: str) -> SignedDelivery:
    """A push of ``after`` to main with head commit message ``message``, as ``host`` sends it."""
    change = RefChange("refs/heads/main", after=after, before=before, message=message)
    commits = [Commit(after, message)]
    if host == "github":
        push = github_push(name, "refs/heads/main", after, before=before, message=message)
        return github_json_push(SECRET, push)
    if host == "bitbucket-cloud":
        return bitbucket_cloud_push(SECRET, name, [change])
    if host == "bitbucket-server":
        key, _, slug = name.partition("/")
        return bitbucket_server_refs_changed(SECRET, key, slug, [change])
    if host == "gitlab":
        return gitlab_push(SECRET, name, change, commits)
    if host == "gitea":
        return gitea_push(SECRET, name, change, commits)
    assert host == "git"
    return git_push(SECRET, name, [change])


@pytest.mark.parametrize(
    ("host", "marker"),
    [
        ("github", "[skip ci]"),
        ("bitbucket-cloud", "[ci skip]"),
        ("bitbucket-server", "[no ci]"),
        ("gitlab", "[Skip CI]"),
        ("gitea", "[build skip]"),
        ("git", "[SKIP BUILD]"),
    ],
)
def test_skip_marker_in_the_head_commit_is_ignored_naming_the_marker(
    host, marker, tmp_path, redis_url, redis_conn, make_git_repo
):
    provider = host.split("-")[0]
    name = f"SKIP/app-{uuid.uuid4().hex[:8]}" if host == "bitbucket-server" else "rules/skip"
    repo = make_git_repo({"Dockerfile": "FROM scratch\n"}, "main")
    first = repo.head()
    message = f"tweak the image {marker}\n\nmore words"
    skipped = repo.commit({"Dockerfile": "FROM scratch\nLABEL x=1\n"}, message)
    rules = """
    - source_type: branch
      source: main
      docker_tag: latest
    """
    config = write_config(tmp_path, provider, name, repo.url, "127.0.0.1:5000/rules/skip", rules)
    settings = make_settings(config, redis_url, tmp_path, RULES_SECRET=SECRET)
    client = make_app(settings).test_client()
    queue = build_queue(redis_conn, settings.queue_name)

    answer = skip_delivery(host, name, first, skipped, message).post(client)

    assert answer.status_code == 200, answer.json
    assert marker.lower() in answer.json["ignored"]
    assert builds_of(client, provider, name) == []
    assert queue.count == 0
