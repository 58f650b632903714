"""Pull requests end to end on the real services: a signed event from each host queues the right
build; a ``push: false`` build runs its compose ``sut`` test (passing and failing) and pushes
nothing; a fork gets no secret and is refused under ``autotest: internal``; a newer commit
supersedes the older build; a canceled test leaves no container, network or volume behind.

The clone URL is a local repository holding the hosts' pull refs (``refs/pull/N/head`` and
friends) as a git host would; builds run in a real burst worker on the real Docker daemon.
"""

from __future__ import annotations

import textwrap
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker
import pytest
from flask.testing import FlaskClient

from core.settings import Settings
from tests.integration.control_helpers import WorkerProcess, wait_for
from tests.integration.host_payloads import SignedDelivery
from tests.integration.pr_payloads import (
    Pull,
    bitbucket_cloud_pull,
    bitbucket_server_pull,
    gitea_pull,
    github_pull,
    gitlab_pull,
)
from tests.integration.services import GitRepo
from tests.integration.webhook_helpers import (
    make_app,
    make_settings,
    registry_digest,
    run_burst_worker,
)

SECRET = "pull-request-webhook-secret"
SECRET_ENV = "PR_E2E_WEBHOOK_SECRET"
ADMIN_TOKEN = "pull-request-admin-token-0123456789"
BUILD_SECRET = "pr-build-secret-value-9f8e7d6c5b4a"
PROJECT_LABEL = "com.docker.compose.project"

Deliver = Callable[[str, Pull], SignedDelivery]
HOSTS: dict[str, tuple[str, Deliver, str]] = {  # case: (provider, delivery, pull ref)
    "github": ("github", github_pull, "refs/pull/{n}/head"),
    "gitea": ("gitea", gitea_pull, "refs/pull/{n}/head"),
    "gitlab": ("gitlab", gitlab_pull, "refs/merge-requests/{n}/head"),
    "bitbucket-server": ("bitbucket", bitbucket_server_pull, "refs/pull-requests/{n}/from"),
    "bitbucket-cloud": ("bitbucket", bitbucket_cloud_pull, "refs/heads/feature/x"),
}


class Site:
    """One configured repository (pull request rules), its app and settings."""

    def __init__(
        self,
        tmp_path: Path,
        redis_url: str,
        registry: str,
        repo: GitRepo,
        provider: str,
        name: str,
        extra: str = "",
    ) -> None:
        self.registry = registry
        self.image_path = f"autobuild-test/pr-{uuid.uuid4().hex[:10]}"
        config = tmp_path / "autobuild.yml"
        config.write_text(
            textwrap.dedent(
                f"""
                repositories:
                  - provider: {provider}
                    name: {name}
                    clone_url: {repo.url}
                    image: {registry}/{self.image_path}
                    webhook_secret_env: {SECRET_ENV}
                    secrets: {{TOK: PR_E2E_BUILD_SECRET}}
                    build_rules:
                      - source_type: pull_request
                        source: main
                        docker_tag: pr-{{pr}}
                        push: false
                """
            )
            + textwrap.indent(textwrap.dedent(extra), " " * 4)
        )
        self.settings: Settings = make_settings(
            config,
            redis_url,
            tmp_path,
            **{
                SECRET_ENV: SECRET,
                "PR_E2E_BUILD_SECRET": BUILD_SECRET,
                "AUTOBUILD_ADMIN_TOKEN": ADMIN_TOKEN,
            },
        )
        self.client: FlaskClient = make_app(self.settings).test_client()

    def queue(self, delivery: SignedDelivery) -> dict[str, Any]:
        answer = delivery.post(self.client)
        assert answer.status_code == 202, answer.json
        (build,) = answer.json["builds"]
        return dict(build)

    def build(self, build_id: str) -> dict[str, Any]:
        return dict(self.client.get(f"/api/v1/builds/{build_id}").json)

    def log(self, build_id: str) -> str:
        return self.client.get(f"/api/v1/builds/{build_id}/logs").get_data(as_text=True)

    def work_off(self, build_id: str) -> dict[str, Any]:
        worker = run_burst_worker(self.settings)
        assert worker.returncode == 0, worker.stderr[-2000:]
        return self.build(build_id)


@pytest.fixture
def site_for(tmp_path, redis_url, registry_url, base_image):
    def make(repo: GitRepo, provider: str = "github", name: str = "octo/app", extra: str = ""):
        return Site(tmp_path, redis_url, registry_url, repo, provider, name, extra)

    return make


def dockerfile(base_image: str, *lines: str) -> str:
    return "\n".join([f"FROM {base_image}", *lines]) + "\n"


def compose(sut_command: str, *, volume: bool = False) -> str:
    mount = "    volumes: [scratch:/scratch]\n" if volume else ""
    tail = "volumes:\n  scratch: {}\n" if volume else ""
    return (
        "version: '2.4'\nservices:\n  helper:\n    build: .\n    command: ['sleep', '300']\n"
        f"  sut:\n    build: .\n    depends_on: [helper]\n{mount}"
        f"    command: ['sh', '-c', {sut_command!r}]\n{tail}"
    )


def pull_request_repo(
    make_git_repo, files: dict[str, str], ref: str, number: int
) -> tuple[GitRepo, str]:
    """``main`` with a first commit, and a pull request head commit (``files``) on feature/x
    whose pull ref ``ref`` the repository holds, as the host would."""
    repo = make_git_repo({"README": "main\n"}, branch="main")
    repo.checkout("feature/x", create=True)
    head = repo.commit(files, "the pull request")
    repo.checkout("main")
    if not ref.startswith("refs/heads/"):
        repo.git("update-ref", ref.format(n=number), head)
    return repo, head


def leftovers(project: str) -> list[str]:
    """Containers, networks and volumes of the compose project that are still there."""
    client = docker.APIClient()
    try:
        labels = {"label": [f"{PROJECT_LABEL}={project}"]}
        found = [c["Id"] for c in client.containers(all=True, filters=labels)]
        found += [n["Name"] for n in client.networks(filters=labels)]
        found += [v["Name"] for v in (client.volumes(filters=labels) or {}).get("Volumes") or []]
        return found
    finally:
        client.close()


def project_of(build: dict[str, Any]) -> str:
    return "ab" + build["id"]


def phase_status(build: dict[str, Any]) -> dict[str, str]:
    return {phase["name"]: phase["status"] for phase in build["phases"]}


# --- each host's event queues the right build ----------------------------------------------------


@pytest.mark.parametrize("case", sorted(HOSTS))
def test_a_signed_pull_request_event_from_each_host_queues_the_pull_request_build(
    case, make_git_repo, base_image, site_for
):
    provider, deliver, ref = HOSTS[case]
    name = "PROJ/app" if case == "bitbucket-server" else "octo/app"
    repo, head = pull_request_repo(make_git_repo, {"Dockerfile": dockerfile(base_image)}, ref, 7)
    site = site_for(repo, provider, name)
    build = site.queue(deliver(SECRET, Pull(name, 7, head)))
    assert build["source_type"] == "pull_request" and build["source_name"] == "pr/7"
    assert build["trigger"] == "pull_request" and build["docker_tags"] == ["pr-7"]
    assert build["push"] is False
    assert build["pull_request"]["number"] == 7
    assert build["pull_request"]["head_ref"] == "feature/x"
    assert build["pull_request"]["base_ref"] == "main"
    assert build["pull_request"]["fork"] is False


@pytest.mark.parametrize("case", ["gitlab", "bitbucket-cloud"])
def test_the_head_commit_is_fetched_through_the_hosts_pull_ref(
    case, make_git_repo, base_image, site_for
):
    provider, deliver, ref = HOSTS[case]
    files = {"Dockerfile": dockerfile(base_image, "RUN echo pr > /pr.txt")}
    repo, head = pull_request_repo(make_git_repo, files, ref, 3)
    site = site_for(repo, provider, "octo/app")
    queued = site.queue(deliver(SECRET, Pull("octo/app", 3, head)))
    done = site.work_off(queued["id"])
    assert done["status"] == "success", (done, site.log(queued["id"]))
    assert done["commit"] == head  # Bitbucket Cloud's 12 digits resolved to the full id
    assert done["digest"] is None and done["image_id"]


# --- push: false and the sut test ----------------------------------------------------------------


def test_push_false_runs_a_passing_sut_test_and_pushes_nothing(
    make_git_repo, base_image, site_for, registry_url
):
    marker = f"sut-passed-{uuid.uuid4().hex[:8]}"
    files = {
        "Dockerfile": dockerfile(base_image, "RUN echo built-in-image > /built.txt"),
        "docker-compose.test.yml": compose(
            f"cat /built.txt && ping -c1 -W2 helper && echo {marker}"
        ),
    }
    repo, head = pull_request_repo(make_git_repo, files, "refs/pull/{n}/head", 5)
    site = site_for(repo)
    queued = site.queue(github_pull(SECRET, Pull("octo/app", 5, head)))
    done = site.work_off(queued["id"])
    log = site.log(queued["id"])
    assert done["status"] == "success", (done, log)
    assert done["digest"] is None and done["image_id"].startswith("sha256:")
    assert phase_status(done) == {
        "clone": "success",
        "build": "success",
        "test": "success",
        "push": "skipped",
        "verify": "skipped",
        "attest": "skipped",
    }
    assert "built-in-image" in log and marker in log  # sut ran the built image, reached helper
    assert "nothing was pushed (push: false)" in log
    assert registry_digest(registry_url, site.image_path, "pr-5") is None
    assert leftovers(project_of(done)) == []


def test_a_failing_sut_fails_the_build_pushes_nothing_and_leaves_nothing(
    make_git_repo, base_image, site_for, registry_url
):
    files = {
        "Dockerfile": dockerfile(base_image),
        "app.test.yml": compose("echo about to fail; exit 7", volume=True),
    }
    repo, head = pull_request_repo(make_git_repo, files, "refs/pull/{n}/head", 6)
    site = site_for(repo, extra="")
    queued = site.queue(github_pull(SECRET, Pull("octo/app", 6, head)))
    done = site.work_off(queued["id"])
    assert done["status"] == "failed", done
    assert done["error"] == "Test app.test.yml failed: its sut service exited with code 7."
    assert phase_status(done)["test"] == "failed" and phase_status(done)["push"] == "skipped"
    assert "about to fail" in site.log(queued["id"])
    assert registry_digest(registry_url, site.image_path, "pr-6") is None
    assert leftovers(project_of(done)) == []


# --- forks ---------------------------------------------------------------------------------------


def test_a_fork_pull_request_is_refused_under_autotest_internal(
    make_git_repo, base_image, site_for
):
    repo, head = pull_request_repo(
        make_git_repo, {"Dockerfile": dockerfile(base_image)}, "refs/pull/{n}/head", 8
    )
    name = f"octo/fork-{uuid.uuid4().hex[:8]}"
    site = site_for(repo, name=name)
    answer = github_pull(SECRET, Pull(name, 8, head, fork=True)).post(site.client)
    assert answer.status_code == 200, answer.json
    assert "comes from a fork" in answer.json["ignored"]
    query = {"provider": "github", "repository": name}
    assert site.client.get("/api/v1/builds", query_string=query).json["builds"] == []


def test_a_fork_pull_request_under_autotest_all_gets_no_secret(make_git_repo, base_image, site_for):
    step = (
        "RUN --mount=type=secret,id=TOK cat /run/secrets/TOK"
        " || echo no-secret-for-forks > /secret-check.txt"
    )
    files = {
        "Dockerfile": dockerfile(base_image, step, "RUN cat /secret-check.txt"),
        "docker-compose.test.yml": compose("cat /secret-check.txt"),
    }
    repo, head = pull_request_repo(make_git_repo, files, "refs/pull/{n}/head", 9)
    site = site_for(repo, extra="autotest: all\n")
    queued = site.queue(github_pull(SECRET, Pull("octo/app", 9, head, fork=True)))
    assert queued["push"] is False and queued["pull_request"]["fork"] is True
    done = site.work_off(queued["id"])
    log = site.log(queued["id"])
    assert done["status"] == "success", (done, log)
    assert "no-secret-for-forks" in log
    assert "no build secrets and no registry credentials" in log
    assert BUILD_SECRET not in log


def test_a_fork_pull_request_runs_no_hook_and_gets_no_env_secret(
    make_git_repo, base_image, site_for
):
    files = {
        "Dockerfile": dockerfile(base_image, "RUN true"),
        "hooks/pre_build": "#!/bin/sh\necho hook-ran-with-$HOOK_TOKEN\n",
        "docker-compose.test.yml": compose("echo test-sees-${GREETING:-nothing}"),
    }
    repo, head = pull_request_repo(make_git_repo, files, "refs/pull/{n}/head", 11)
    extra = "autotest: all\nhooks: true\nenv: {GREETING: hi, HOOK_TOKEN_env: PR_E2E_BUILD_SECRET}\n"
    site = site_for(repo, extra=extra)
    queued = site.queue(github_pull(SECRET, Pull("octo/app", 11, head, fork=True)))
    done = site.work_off(queued["id"])
    log = site.log(queued["id"])
    assert done["status"] == "success", (done, log)
    assert "hook-ran" not in log  # the fork's hooks/ is code nobody reviewed: never run
    assert "pre_build" not in [p["name"] for p in done["phases"] if p["status"] == "success"]
    assert BUILD_SECRET not in log


# --- supersede and cancel ------------------------------------------------------------------------


def test_a_newer_commit_on_the_same_pull_request_supersedes_the_older_build(
    make_git_repo, base_image, site_for
):
    repo, first = pull_request_repo(
        make_git_repo, {"Dockerfile": dockerfile(base_image)}, "refs/pull/{n}/head", 11
    )
    site = site_for(repo)
    older = site.queue(github_pull(SECRET, Pull("octo/app", 11, first)))
    repo.checkout("feature/x")
    second = repo.commit({"Dockerfile": dockerfile(base_image, "RUN true")}, "more")
    other = site.queue(github_pull(SECRET, Pull("octo/app", 12, second)))  # another PR: kept
    newer = site.queue(github_pull(SECRET, Pull("octo/app", 11, second), action="synchronize"))
    assert site.build(older["id"])["status"] == "superseded"
    assert newer["id"] in site.build(older["id"])["error"]
    assert site.build(other["id"])["status"] == "queued"
    assert site.build(newer["id"])["status"] == "queued"


def test_a_canceled_test_leaves_no_container_network_or_volume(
    make_git_repo, base_image, site_for, tmp_path
):
    marker = f"sut-waiting-{uuid.uuid4().hex[:8]}"
    files = {
        "Dockerfile": dockerfile(base_image),
        "docker-compose.test.yml": compose(f"echo {marker}; sleep 120", volume=True),
    }
    repo, head = pull_request_repo(make_git_repo, files, "refs/pull/{n}/head", 13)
    site = site_for(repo)
    queued = site.queue(github_pull(SECRET, Pull("octo/app", 13, head)))
    project = project_of(queued)
    with WorkerProcess(site.settings, tmp_path / "worker.log", burst=True) as worker:
        wait_for(lambda: marker in site.log(queued["id"]), 180, "the sut output")
        assert leftovers(project)  # the test is running: its containers exist
        canceled = site.client.post(
            f"/api/v1/builds/{queued['id']}/cancel",
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )
        assert canceled.status_code == 200, canceled.json
        assert worker.wait(120) == 0, worker.output()[-2000:]
    assert site.build(queued["id"])["status"] == "canceled"
    assert leftovers(project) == []
