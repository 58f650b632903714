"""End to end per git host: a realistic signed delivery becomes an image in the real registry.

Every delivery is one of the real payloads in ``tests/fixtures/webhooks`` with this test's
repository name, refs and commit ids put in and signed as that host signs. The build runs in a
real burst worker (a local git repository as the clone URL, the real Docker daemon), and the
test checks the registry: every tag answers with the build's digest, and the pushed image's
revision label names the commit the delivery asked for.
"""

from __future__ import annotations

import textwrap
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from core.settings import Settings
from tests.integration.host_payloads import (
    Commit,
    RefChange,
    SignedDelivery,
    bitbucket_cloud_push,
    bitbucket_server_refs_changed,
    built_revision,
    git_push,
    gitea_push,
    github_form_push,
    gitlab_push,
)
from tests.integration.services import GitRepo
from tests.integration.webhook_helpers import (
    make_app,
    make_settings,
    registry_digest,
    run_burst_worker,
)

SECRET = "hosts-e2e-webhook-secret"
SECRET_ENV = "HOSTS_E2E_SECRET"


def dockerfile(base_image: str, marker: str) -> str:
    return f"FROM {base_image}\nRUN echo {marker} > /built.txt\n"


def write_config(tmp_path: Path, provider: str, name: str, clone_url: str, image: str) -> Path:
    config = tmp_path / "autobuild.yml"
    config.write_text(
        textwrap.dedent(
            f"""
            repositories:
              - provider: {provider}
                name: {name}
                clone_url: {clone_url}
                image: {image}
                webhook_secret_env: {SECRET_ENV}
                build_rules:
                  - source_type: branch
                    source: main
                    docker_tag: latest
                  - source_type: branch
                    source: /^feature\\/.+$/
                    docker_tag: '{{sourceref}}'
                  - source_type: tag
                    source: /^v([0-9.]+)$/
                    docker_tag: '{{\\1}}'
            """
        )
    )
    return config


class Host:
    """One configured repository for one provider, its git repository and its registry image."""

    def __init__(
        self, tmp_path: Path, redis_url: str, registry: str, repo: GitRepo, provider: str, name: str
    ) -> None:
        self.registry = registry
        self.image_path = f"autobuild-test/hosts-{provider}-{uuid.uuid4().hex[:10]}"
        config = write_config(tmp_path, provider, name, repo.url, f"{registry}/{self.image_path}")
        self.settings: Settings = make_settings(config, redis_url, tmp_path, **{SECRET_ENV: SECRET})
        self.client: FlaskClient = make_app(self.settings).test_client()

    def deliver(self, delivery: SignedDelivery, expect_builds: int) -> list[dict[str, Any]]:
        answer = delivery.post(self.client)
        assert answer.status_code == 202, answer.json
        builds: list[dict[str, Any]] = answer.json["builds"]
        assert len(builds) == expect_builds, builds
        assert all(build["status"] == "queued" for build in builds)
        return builds

    def work_off(self, builds: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Run a burst worker; the builds as they ended, by source name."""
        worker = run_burst_worker(self.settings)
        assert worker.returncode == 0, worker.stderr[-2000:]
        ended: list[dict[str, Any]] = [
            self.client.get(f"/api/v1/builds/{build['id']}").get_json() for build in builds
        ]
        return {build["source_name"]: build for build in ended}

    def assert_pushed(self, build: dict[str, Any], commit: str, tags: list[str]) -> None:
        assert build["status"] == "success", build
        assert build["error"] is None
        assert build["commit"] == commit
        assert build["docker_tags"] == tags
        assert build["digest"].startswith("sha256:")
        for tag in tags:
            assert registry_digest(self.registry, self.image_path, tag) == build["digest"], tag
        assert built_revision(self.registry, self.image_path, build["digest"]) == commit


@pytest.fixture
def host_for(tmp_path, redis_url, registry_url, base_image):
    def make(repo: GitRepo, provider: str, name: str) -> Host:
        return Host(tmp_path, redis_url, registry_url, repo, provider, name)

    return make


@pytest.fixture
def two_commits(make_git_repo, base_image):
    """A repository on ``main`` with two commits; returns (repo, first, second)."""
    repo = make_git_repo({"Dockerfile": dockerfile(base_image, "first")}, branch="main")
    first = repo.head()
    second = repo.commit({"Dockerfile": dockerfile(base_image, "second")}, "second commit")
    return repo, first, second


# --- GitHub (JSON is covered in test_pipeline_e2e.py) -------------------------------------------


def test_github_form_encoded_push_lands_in_the_registry(two_commits, host_for):
    repo, first, second = two_commits
    host = host_for(repo, "github", "Octo/Form-Encoded")
    delivery = github_form_push(
        SECRET, "Octo/Form-Encoded", "refs/heads/main", second, first, [Commit(second)]
    )
    (queued,) = host.deliver(delivery, expect_builds=1)
    build = host.work_off([queued])["main"]
    host.assert_pushed(build, second, ["latest"])
    assert build["provider"] == "github"


# --- Bitbucket Cloud -----------------------------------------------------------------------------


def test_bitbucket_cloud_delivery_with_several_changes_builds_each_ref(
    make_git_repo, base_image, host_for
):
    repo = make_git_repo({"Dockerfile": dockerfile(base_image, "tagged")}, branch="main")
    tagged = repo.tag("v0.1")
    on_main = repo.commit({"Dockerfile": dockerfile(base_image, "main")}, "main moves on")
    repo.checkout("feature/login", create=True)
    on_feature = repo.commit({"Dockerfile": dockerfile(base_image, "feature")}, "login page")
    repo.checkout("main")
    host = host_for(repo, "bitbucket", "team-space/multi-app")

    request_uuid = str(uuid.uuid4())
    delivery = bitbucket_cloud_push(
        SECRET,
        "team-space/multi-app",
        [
            RefChange("refs/heads/main", after=on_main, before=tagged, message="main moves on"),
            RefChange("refs/heads/feature/login", after=on_feature, message="login page"),
            RefChange("refs/tags/v0.1", after=tagged, message="initial commit"),
        ],
        request_uuid=request_uuid,
    )
    queued = host.deliver(delivery, expect_builds=3)
    builds = host.work_off(queued)
    assert set(builds) == {"main", "feature/login", "v0.1"}
    host.assert_pushed(builds["main"], on_main, ["latest"])
    host.assert_pushed(builds["feature/login"], on_feature, ["feature-login"])
    host.assert_pushed(builds["v0.1"], tagged, ["0.1"])
    assert {build["provider"] for build in builds.values()} == {"bitbucket"}

    # Bitbucket retries with the same X-Request-UUID: recognised, nothing new is queued.
    again = delivery.post(host.client)
    assert again.status_code == 200, again.json
    assert request_uuid in again.json["ignored"]
    assert sorted(b["id"] for b in again.json["builds"]) == sorted(b["id"] for b in queued)
    listed = host.client.get(
        "/api/v1/builds",
        query_string={"provider": "bitbucket", "repository": "team-space/multi-app"},
    ).json["builds"]
    assert len(listed) == 3


# --- Bitbucket Server / Data Center ---------------------------------------------------------------


def test_bitbucket_server_refs_changed_builds_project_key_and_slug(two_commits, host_for):
    repo, first, second = two_commits
    host = host_for(repo, "bitbucket", "PROJ/app-slug")
    delivery = bitbucket_server_refs_changed(
        SECRET,
        "PROJ",
        "app-slug",
        [RefChange("refs/heads/main", after=second, before=first, message="second commit")],
    )
    (queued,) = host.deliver(delivery, expect_builds=1)
    assert queued["repository"] == "PROJ/app-slug"
    build = host.work_off([queued])["main"]
    host.assert_pushed(build, second, ["latest"])


def test_bitbucket_server_annotated_tag_builds_the_tagged_commit(two_commits, host_for):
    repo, first, _second = two_commits
    repo.git("tag", "-a", "v2.0", "-m", "release 2.0", first)
    tag_object = repo.git("rev-parse", "refs/tags/v2.0")
    assert tag_object != first
    host = host_for(repo, "bitbucket", "PROJ/app-slug")
    delivery = bitbucket_server_refs_changed(
        SECRET,
        "PROJ",
        "app-slug",
        [RefChange("refs/tags/v2.0", after=tag_object, commit=first, message="initial commit")],
    )
    (queued,) = host.deliver(delivery, expect_builds=1)
    build = host.work_off([queued])["v2.0"]
    host.assert_pushed(build, first, ["2.0"])


def test_bitbucket_server_annotated_tag_pushed_with_a_branch_builds_the_tagged_commit(
    two_commits, host_for
):
    """With several changes (or no toCommit, older Servers) the payload names only the tag
    object; the worker peels it and records the commit."""
    repo, first, second = two_commits
    repo.git("tag", "-a", "v2.0", "-m", "release 2.0", first)
    tag_object = repo.git("rev-parse", "refs/tags/v2.0")
    host = host_for(repo, "bitbucket", "PROJ/app-slug")
    delivery = bitbucket_server_refs_changed(
        SECRET,
        "PROJ",
        "app-slug",
        [
            # git push origin main v2.0: one delivery; toCommit is the branch's new commit
            RefChange("refs/tags/v2.0", after=tag_object, commit=tag_object, message="initial"),
            RefChange("refs/heads/main", after=second, before=first, message="second commit"),
        ],
    )
    queued = host.deliver(delivery, expect_builds=2)
    builds = host.work_off(queued)
    host.assert_pushed(builds["main"], second, ["latest"])
    host.assert_pushed(builds["v2.0"], first, ["2.0"])


# --- GitLab --------------------------------------------------------------------------------------


def test_gitlab_push_hook_for_a_subgroup_project(two_commits, host_for):
    repo, first, second = two_commits
    name = "platform/backend/tools/image-app"
    host = host_for(repo, "gitlab", name)
    delivery = gitlab_push(
        SECRET,
        name,
        RefChange("refs/heads/main", after=second, before=first),
        [Commit(second, "second commit\n")],
    )
    (queued,) = host.deliver(delivery, expect_builds=1)
    assert queued["repository"] == name
    build = host.work_off([queued])["main"]
    host.assert_pushed(build, second, ["latest"])


def test_gitlab_tag_push_hook_builds_checkout_sha(two_commits, host_for):
    repo, _first, second = two_commits
    repo.git("tag", "-a", "v3.1", "-m", "release 3.1")
    tag_object = repo.git("rev-parse", "refs/tags/v3.1")
    assert tag_object != second
    name = "platform/backend/tools/image-app"
    host = host_for(repo, "gitlab", name)
    delivery = gitlab_push(
        SECRET,
        name,
        RefChange("refs/tags/v3.1", after=tag_object, commit=second),
        [Commit(second, "second commit\n")],
    )
    assert delivery.headers["X-Gitlab-Event"] == "Tag Push Hook"
    (queued,) = host.deliver(delivery, expect_builds=1)
    build = host.work_off([queued])["v3.1"]
    host.assert_pushed(build, second, ["3.1"])


# --- Gitea / Forgejo / Gogs -----------------------------------------------------------------------


def test_gitea_push_signed_with_bare_hex(two_commits, host_for):
    repo, first, second = two_commits
    host = host_for(repo, "gitea", "gitea-org/app")
    delivery = gitea_push(
        SECRET,
        "gitea-org/app",
        RefChange("refs/heads/main", after=second, before=first),
        [Commit(second, "second commit\n")],
    )
    assert not delivery.headers["X-Gitea-Signature"].startswith("sha256=")
    (queued,) = host.deliver(delivery, expect_builds=1)
    build = host.work_off([queued])["main"]
    host.assert_pushed(build, second, ["latest"])


def test_gitea_form_encoded_push_is_verified_over_the_json(two_commits, host_for):
    repo, _first, second = two_commits
    repo.git("branch", "feature/search")  # a new branch at the second commit
    host = host_for(repo, "gitea", "gitea-org/app")
    delivery = gitea_push(
        SECRET,
        "gitea-org/app",
        RefChange("refs/heads/feature/search", after=second),
        [Commit(second, "second commit\n")],
        form=True,
    )
    assert delivery.body.startswith(b"payload=")
    (queued,) = host.deliver(delivery, expect_builds=1)
    build = host.work_off([queued])["feature/search"]
    host.assert_pushed(build, second, ["feature-search"])


# --- plain git servers (the git hook's format) ----------------------------------------------------


def test_git_provider_format(two_commits, host_for):
    repo, first, second = two_commits
    host = host_for(repo, "git", "team/app")
    delivery = git_push(
        SECRET,
        "team/app",
        [
            RefChange(
                "refs/heads/main",
                after=second,
                before=first,
                message="second commit",
                changed_files=("Dockerfile",),
            )
        ],
    )
    (queued,) = host.deliver(delivery, expect_builds=1)
    build = host.work_off([queued])["main"]
    host.assert_pushed(build, second, ["latest"])
    assert build["provider"] == "git"
