"""The worker on the real services: git mirror, Docker daemon, registries, Redis."""

from __future__ import annotations

import socket
import time
import uuid

import pytest
from rq import Worker
from rq.serializers import JSONSerializer

from buildrules.model import RegistryAuth
from core.build import BuildStatus
from core.events import RefType
from core.queue import build_queue, enqueue_build
from tests.integration.worker_helpers import (
    create_record,
    log_text,
    make_context,
    make_repository,
    phase_markers,
    registry_digest,
    unique_image,
)
from worker import jobs
from worker.checkout import Mirror
from worker.jobs import execute_build

pytestmark = pytest.mark.integration


@pytest.fixture
def image(registry_url):
    return unique_image(registry_url)


def dockerfile(base_image: str, *lines: str) -> str:
    """A Dockerfile whose steps miss the daemon's build cache (so RUN output shows every time)."""
    bust = f"ENV AUTOBUILD_TEST_RUN={uuid.uuid4().hex}"
    return "\n".join([f"FROM {base_image}", bust, *lines]) + "\n"


def build(worker_context, repository, commit, **record_fields):
    """Record a queued build of ``commit`` and run it; returns the status and the final record."""
    record = create_record(worker_context.store, repository, commit, **record_fields)
    status = execute_build(worker_context, record.id)
    return status, worker_context.store.require(record.id)


def test_a_build_pushes_every_tag_and_reports_the_registrys_digest(
    tmp_path, redis_url, clean_redis, docker_api, base_image, make_git_repo, image
):
    repo = make_git_repo(
        {"Dockerfile": dockerfile(base_image, "ARG GREETING", 'RUN echo "run-step-says $GREETING"')}
    )
    repository = make_repository(repo.url, image)
    context = make_context(tmp_path, redis_url, clean_redis, [repository])

    status, record = build(
        context, repository, repo.head(), tags=("latest", "extra"), build_args=[("GREETING", "hi")]
    )

    assert status == "success", record.error
    assert record.status is BuildStatus.SUCCESS
    assert record.error is None
    assert record.digest and record.digest.startswith("sha256:")
    assert record.image_id and record.image_id.startswith("sha256:")
    assert record.started_at and record.finished_at
    for tag in ("latest", "extra"):
        assert registry_digest(image, tag) == record.digest
    log = log_text(clean_redis, record.id)
    assert "run-step-says hi" in log  # the RUN step's own output, as a whole line
    assert phase_markers(clean_redis, record.id) == ["clone", "build", "push", "attest"]
    labels = docker_api.inspect_image(record.image_id)["Config"]["Labels"]
    assert labels["org.opencontainers.image.revision"] == repo.head()
    assert labels["org.opencontainers.image.source"] == repo.url
    assert labels["io.autobuild.build-id"] == record.id
    assert labels["org.opencontainers.image.created"].endswith("Z")
    assert list((tmp_path / "work" / "contexts").iterdir()) == []  # temporary context removed


def test_the_context_is_a_clean_export_without_git(
    tmp_path, redis_url, clean_redis, base_image, make_git_repo, image
):
    repo = make_git_repo(
        {
            "outside.txt": "not in the context\n",
            "app/inside.txt": "in the context\n",
            "app/docker/Dockerfile.prod": dockerfile(
                base_image,
                "COPY . /src",
                "RUN test ! -e /src/.git && test -f /src/inside.txt && test ! -e /src/outside.txt"
                " && echo context-is-clean",
            ),
        }
    )
    repository = make_repository(repo.url, image)
    context = make_context(tmp_path, redis_url, clean_redis, [repository])

    status, record = build(
        context, repository, repo.head(), context="/app", dockerfile="docker/Dockerfile.prod"
    )

    assert status == "success", record.error
    assert "context-is-clean" in log_text(clean_redis, record.id)


def test_an_older_commit_is_built_not_the_branch_tip(
    tmp_path, redis_url, clean_redis, base_image, make_git_repo, image
):
    files = {"Dockerfile": dockerfile(base_image, "COPY version.txt /", "RUN cat /version.txt")}
    repo = make_git_repo({**files, "version.txt": "version-one\n"})
    first = repo.head()
    repo.commit({"version.txt": "version-two\n"})
    repository = make_repository(repo.url, image)
    context = make_context(tmp_path, redis_url, clean_redis, [repository])

    status, record = build(context, repository, first)

    assert status == "success", record.error
    log = log_text(clean_redis, record.id)
    assert "version-one" in log and "version-two" not in log


def test_a_tag_build_builds_the_tagged_commit(
    tmp_path, redis_url, clean_redis, base_image, make_git_repo, image
):
    repo = make_git_repo(
        {"Dockerfile": dockerfile(base_image, "COPY v.txt /", "RUN cat /v.txt"), "v.txt": "tag-1\n"}
    )
    tagged = repo.tag("v1.2", message="release 1.2")  # annotated: the record holds the commit
    repo.commit({"v.txt": "after-the-tag\n"})
    repository = make_repository(repo.url, image)
    context = make_context(tmp_path, redis_url, clean_redis, [repository])

    status, record = build(
        context, repository, tagged, tags=("1.2",), source_type=RefType.TAG, source_name="v1.2"
    )

    assert status == "success", record.error
    assert registry_digest(image, "1.2") == record.digest
    assert "tag-1" in log_text(clean_redis, record.id)


def test_a_tag_build_of_an_annotated_tag_object_builds_and_records_its_commit(
    tmp_path, redis_url, clean_redis, base_image, make_git_repo, image, docker_api
):
    repo = make_git_repo(
        {"Dockerfile": dockerfile(base_image, "COPY v.txt /", "RUN cat /v.txt"), "v.txt": "tag-2\n"}
    )
    tagged = repo.tag("v2.0", message="release 2.0")
    tag_object = repo.git("rev-parse", "refs/tags/v2.0")  # what Bitbucket Server may send
    assert tag_object != tagged
    repo.commit({"v.txt": "after-the-tag\n"})
    repository = make_repository(repo.url, image)
    context = make_context(tmp_path, redis_url, clean_redis, [repository])

    status, record = build(
        context, repository, tag_object, tags=("2.0",), source_type=RefType.TAG, source_name="v2.0"
    )

    assert status == "success", record.error
    assert record.commit == tagged
    assert registry_digest(image, "2.0") == record.digest
    labels = docker_api.inspect_image(record.image_id)["Config"]["Labels"]
    assert labels["org.opencontainers.image.revision"] == tagged
    log = log_text(clean_redis, record.id)
    assert "tag-2" in log and "after-the-tag" not in log
    assert (
        f"Tag v2.0 is an annotated tag object {tag_object[:7]}; building its commit {tagged[:7]}"
        in log
    )


def test_a_failing_run_step_fails_with_dockers_message_and_pushes_nothing(
    tmp_path, redis_url, clean_redis, base_image, make_git_repo, image
):
    repo = make_git_repo(
        {"Dockerfile": dockerfile(base_image, "RUN echo about-to-fail && exit 3", "RUN echo never")}
    )
    repository = make_repository(repo.url, image, builder="legacy")  # BuildKit: test_buildkit
    context = make_context(tmp_path, redis_url, clean_redis, [repository])

    status, record = build(context, repository, repo.head())

    assert status == "failed"
    assert record.status is BuildStatus.FAILED
    assert record.error.startswith("Step 3/")  # FROM, ENV, this RUN; the labels add steps too
    assert " failed: The command '/bin/sh -c echo about-to-fail && exit 3'" in record.error
    assert "returned a non-zero code: 3" in record.error
    assert record.digest is None and record.finished_at is not None
    log = log_text(clean_redis, record.id)
    assert "about-to-fail" in log
    assert "returned a non-zero code: 3" in log.splitlines()[-1]
    assert "never" not in log.replace("RUN echo never", "")
    assert registry_digest(image, "latest") is None


def test_a_missing_dockerfile_fails_with_a_clear_message(
    tmp_path, redis_url, clean_redis, make_git_repo, image
):
    repo = make_git_repo({"README": "no Dockerfile here\n"})
    repository = make_repository(repo.url, image)
    context = make_context(tmp_path, redis_url, clean_redis, [repository])

    status, record = build(context, repository, repo.head(), dockerfile="build/Dockerfile")

    assert status == "failed"
    assert record.error == (
        "There is no Dockerfile build/Dockerfile in the build context /"
        f" of commit {repo.head()[:7]}."
    )


def test_a_bad_dockerfile_instruction_fails(
    tmp_path, redis_url, clean_redis, base_image, make_git_repo, image
):
    repo = make_git_repo({"Dockerfile": f"FROM {base_image}\nFLY away\n"})
    repository = make_repository(repo.url, image)
    context = make_context(tmp_path, redis_url, clean_redis, [repository])

    status, record = build(context, repository, repo.head())

    assert status == "failed"
    assert "unknown instruction" in record.error.lower()


def test_pushing_to_the_auth_registry_without_credentials_is_an_error_and_claims_nothing(
    tmp_path, redis_url, clean_redis, base_image, make_git_repo, auth_registry
):
    image = unique_image(auth_registry.host)
    repo = make_git_repo({"Dockerfile": dockerfile(base_image, "RUN echo hello")})
    repository = make_repository(repo.url, image)
    context = make_context(tmp_path, redis_url, clean_redis, [repository])

    status, record = build(context, repository, repo.head())

    assert status == "error"
    assert record.digest is None
    assert record.error.startswith(f"Push of {image}:latest was refused:")
    assert registry_digest(image, "latest", auth_registry.username, auth_registry.password) is None


def test_pushing_to_the_auth_registry_with_credentials_succeeds_and_masks_them(
    tmp_path, redis_url, clean_redis, base_image, make_git_repo, auth_registry
):
    image = unique_image(auth_registry.host)
    password = auth_registry.password
    repo = make_git_repo({"Dockerfile": dockerfile(base_image, f"RUN echo leaking {password} now")})
    repository = make_repository(repo.url, image)
    registries = [RegistryAuth(auth_registry.host, "REG_USER", "REG_PASSWORD")]
    environ = {"REG_USER": auth_registry.username, "REG_PASSWORD": password}
    context = make_context(tmp_path, redis_url, clean_redis, [repository], registries, environ)

    status, record = build(context, repository, repo.head())

    assert status == "success", record.error
    assert registry_digest(image, "latest", auth_registry.username, password) == record.digest
    log = log_text(clean_redis, record.id)
    assert "leaking ****** now" in log
    assert password not in log


def test_credentials_configured_but_unset_are_an_error_before_any_work(
    tmp_path, redis_url, clean_redis, make_git_repo, auth_registry
):
    image = unique_image(auth_registry.host)
    repo = make_git_repo({"Dockerfile": "FROM scratch\n"})
    repository = make_repository(repo.url, image)
    registries = [RegistryAuth(auth_registry.host, "REG_USER_UNSET", "REG_PASSWORD_UNSET")]
    context = make_context(tmp_path, redis_url, clean_redis, [repository], registries)

    status, record = build(context, repository, repo.head())

    assert status == "error"
    assert "REG_USER_UNSET and REG_PASSWORD_UNSET is not set" in record.error


def test_the_mirror_is_reused_and_only_new_commits_are_fetched(
    tmp_path, redis_url, clean_redis, base_image, make_git_repo, image
):
    repo = make_git_repo({"Dockerfile": dockerfile(base_image, "COPY n.txt /"), "n.txt": "1\n"})
    repository = make_repository(repo.url, image)
    context = make_context(tmp_path, redis_url, clean_redis, [repository])
    first = repo.head()

    status, record = build(context, repository, first)
    assert status == "success", record.error
    assert "Commit " + first[:7] + " fetched" in log_text(clean_redis, record.id)
    mirror = Mirror.for_repository(
        context.settings.workdir, repository.provider, repository.name, repo.url, {}
    )
    assert mirror.initialized
    marker = mirror.path / "autobuild-test-marker"
    marker.write_text("the same mirror\n")

    second = repo.commit({"n.txt": "2\n"})
    status, record = build(context, repository, second)
    assert status == "success", record.error
    assert "Commit " + second[:7] + " fetched" in log_text(clean_redis, record.id)
    assert marker.exists()  # not re-created: fetched into

    status, record = build(context, repository, first)  # a rebuild fetches nothing
    # ... and never moves latest back: second, which descends from first, pushed it
    assert status == "superseded", record.error
    assert "already in the mirror" in log_text(clean_redis, record.id)
    assert not (mirror.path / ".git").exists()
    assert (mirror.path / "HEAD").is_file()  # bare


def test_an_unreachable_git_repository_is_an_error_naming_it(
    tmp_path, redis_url, clean_redis, image
):
    missing = tmp_path / "no-such-repo"
    repository = make_repository(missing.as_uri(), image)
    context = make_context(tmp_path, redis_url, clean_redis, [repository])

    status, record = build(context, repository, "a" * 40)

    assert status == "error"
    assert record.error.startswith(f"Could not fetch commit aaaaaaa from {missing}:")


def test_a_commit_the_repository_does_not_have_is_an_error(
    tmp_path, redis_url, clean_redis, make_git_repo, image
):
    repo = make_git_repo({"Dockerfile": "FROM scratch\n"})
    repository = make_repository(repo.url, image)
    context = make_context(tmp_path, redis_url, clean_redis, [repository])

    status, record = build(context, repository, "b" * 40)

    assert status == "error"
    assert "bbbbbbb" in record.error


def test_an_unreachable_docker_daemon_is_an_error(
    tmp_path, redis_url, clean_redis, make_git_repo, image
):
    repo = make_git_repo({"Dockerfile": "FROM scratch\n"})
    repository = make_repository(repo.url, image)
    environ = {"DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock"}
    context = make_context(tmp_path, redis_url, clean_redis, [repository], environ=environ)

    status, record = build(context, repository, repo.head())

    assert status == "error"
    assert record.error.startswith("Docker daemon unreachable")


def test_an_unreachable_registry_is_an_error(
    tmp_path, redis_url, clean_redis, base_image, make_git_repo
):
    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    image = unique_image(f"127.0.0.1:{port}")
    repo = make_git_repo({"Dockerfile": dockerfile(base_image, "RUN true")})
    repository = make_repository(repo.url, image)
    context = make_context(tmp_path, redis_url, clean_redis, [repository])

    status, record = build(context, repository, repo.head())

    assert status == "error"
    assert record.error.startswith(f"Push of {image}:latest failed:")
    assert record.digest is None


def running_containers_with(docker_api, marker: str) -> list[str]:
    running = docker_api.containers(filters={"status": "running"})
    return [c["Id"] for c in running if marker in (c.get("Command") or "")]


def test_the_repository_timeout_ends_a_silent_build_and_its_container(
    tmp_path, redis_url, clean_redis, docker_api, base_image, make_git_repo, image
):
    marker = f"sleeper-{uuid.uuid4().hex[:8]}"
    repo = make_git_repo({"Dockerfile": dockerfile(base_image, f"RUN echo {marker} && sleep 60")})
    repository = make_repository(repo.url, image, timeout_seconds=4)
    context = make_context(tmp_path, redis_url, clean_redis, [repository])

    started = time.monotonic()
    status, record = build(context, repository, repo.head())

    assert status == "timed_out"
    assert time.monotonic() - started < 30
    assert "the repository's timeout of 4 seconds was reached" in record.error
    assert "timeout of 4 seconds" in log_text(clean_redis, record.id).splitlines()[-1]
    assert marker in log_text(clean_redis, record.id)
    assert registry_digest(image, "latest") is None
    # Dropping the build's connection makes the daemon abort the build and remove its container.
    deadline = time.monotonic() + 10
    while running_containers_with(docker_api, marker) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert running_containers_with(docker_api, marker) == []


def test_a_build_canceled_while_queued_is_left_alone(
    tmp_path, redis_url, clean_redis, make_git_repo, image
):
    repo = make_git_repo({"Dockerfile": "FROM scratch\n"})
    repository = make_repository(repo.url, image)
    context = make_context(tmp_path, redis_url, clean_redis, [repository])
    record = create_record(context.store, repository, repo.head())
    context.store.transition(record.id, BuildStatus.CANCELED)

    assert execute_build(context, record.id) == "canceled"
    assert context.store.require(record.id).status is BuildStatus.CANCELED
    assert log_text(clean_redis, record.id) == ""


def test_a_build_whose_worker_died_is_recorded_as_an_error_once(
    tmp_path, redis_url, clean_redis, make_git_repo, image
):
    repo = make_git_repo({"Dockerfile": "FROM scratch\n"})
    repository = make_repository(repo.url, image)
    context = make_context(tmp_path, redis_url, clean_redis, [repository])
    record = create_record(context.store, repository, repo.head())
    context.store.transition(record.id, BuildStatus.BUILDING)

    assert jobs.record_lost_build(context, record.id, "The worker process died (signal 9).")
    ended = context.store.require(record.id)
    assert ended.status is BuildStatus.ERROR
    assert ended.error == "The worker process died (signal 9)."
    assert log_text(clean_redis, record.id).endswith("The worker process died (signal 9).")
    assert not jobs.record_lost_build(context, record.id, "again")  # terminal stays terminal


def test_run_build_runs_through_an_rq_burst_worker(
    tmp_path, redis_url, clean_redis, base_image, make_git_repo, image
):
    repo = make_git_repo({"Dockerfile": dockerfile(base_image, "RUN echo from-the-queue")})
    repository = make_repository(repo.url, image)
    context = make_context(tmp_path, redis_url, clean_redis, [repository])
    record = create_record(context.store, repository, repo.head())
    queue = build_queue(clean_redis, context.settings.queue_name)
    job = enqueue_build(queue, record, repository.timeout_seconds)
    assert job.timeout == repository.timeout_seconds + 300  # not rq's 180 s

    jobs.set_context(context)  # as `autobuild worker` does before rq forks the work horse
    try:
        worker = Worker([queue], connection=clean_redis, serializer=JSONSerializer)
        worker.work(burst=True)
    finally:
        jobs.set_context(None)

    done = context.store.require(record.id)
    assert done.status is BuildStatus.SUCCESS, done.error
    assert registry_digest(image, "latest") == done.digest
    assert "from-the-queue" in log_text(clean_redis, record.id)
    job.refresh()
    assert job.return_value() == "success"
