"""Notifications end to end: real builds on the real services, the real ``autobuild notify``
process, and loopback HTTP servers standing in for each git host's status API, for webhook
receivers and for an apprise ``json://`` target."""

from __future__ import annotations

import base64
import uuid

import pytest
from standardwebhooks.webhooks import Webhook

from app import create_app
from buildrules.loader import load
from core.notifications import read_answers
from tests.integration.notify_helpers import (
    Receiver,
    poll,
    start_notify,
    write_config,
)
from tests.integration.worker_helpers import create_record, make_settings, unique_image
from worker.context import WorkerContext
from worker.jobs import execute_build

pytestmark = pytest.mark.integration

TOKEN = "status-token-" + "x" * 20
SECRET = "whsec_" + base64.b64encode(b"notify-secret-of-32-bytes-length").decode()
PUBLIC_URL = "http://autobuild.example.test"


@pytest.fixture
def receivers():
    made: list[Receiver] = []

    def make(*codes: int) -> Receiver:
        receiver = Receiver(codes or (201,))
        made.append(receiver)
        return receiver

    yield make
    for receiver in made:
        receiver.close()


@pytest.fixture
def setup(tmp_path, redis_url, clean_redis, make_git_repo, base_image, registry_url):
    """``setup(repositories, **top) -> Run``: the config written, the notify process started."""
    started = []

    def make(repositories, environ=None, **top):
        config_path = write_config(tmp_path / f"config-{len(started)}.yml", repositories, **top)
        env = {
            "REDIS_URL": redis_url,
            "AUTOBUILD_CONFIG": str(config_path),
            "AUTOBUILD_PUBLIC_URL": PUBLIC_URL,
            "AUTOBUILD_NOTIFY_BACKOFF": "1,1,1,1,1",
            "AUTOBUILD_NOTIFY_TIMEOUT": "2",
            "STATUS_TOKEN": TOKEN,
            "HOOK_SECRET": SECRET,
            **(environ or {}),
        }
        settings = make_settings(tmp_path, redis_url, **env)
        config = load(config_path)
        context = WorkerContext.create(settings, config, clean_redis)
        notify = start_notify({**env, "AUTOBUILD_QUEUE": settings.queue_name}, tmp_path / "n.log")
        started.append(notify)
        return context

    yield make
    for notify in started:
        log = notify.stop()
        assert TOKEN not in log and "notify-secret" not in log


def repository(clone_url, image, **options):
    return {
        "provider": "github",
        "name": f"octo/{uuid.uuid4().hex[:8]}",
        "clone_url": clone_url,
        "image": image,
        "build_rules": [{"source_type": "branch", "source": "master", "docker_tag": "latest"}],
        "retries": 0,
        **options,
    }


def run_build(context, commit, **fields):
    configured = context.config.repositories[0]
    record = create_record(context.store, configured, commit, **fields)
    status = execute_build(context, record.id)
    return status, context.store.require(record.id)


@pytest.fixture
def git_repo(make_git_repo, base_image):
    return make_git_repo({"Dockerfile": f"FROM {base_image}\nRUN echo notified\n"})


HOSTS = {
    "github": ("github", "octo/hello", "/api/v3", "/api/v3/repos/octo/hello/statuses/{sha}"),
    "gitlab": (
        "gitlab",
        "group/sub/hello",
        "/api/v4",
        "/api/v4/projects/group%2Fsub%2Fhello/statuses/{sha}",
    ),
    "bitbucket-cloud": (
        "bitbucket",
        "work/hello",
        "/2.0",
        "/2.0/repositories/work/hello/commit/{sha}/statuses/build",
    ),
    "bitbucket-server": (
        "bitbucket",
        "PROJ/hello",
        "/rest/api/latest",
        "/rest/api/latest/projects/PROJ/repos/hello/commits/{sha}/builds",
    ),
    "gitea": ("gitea", "octo/hello", "/api/v1", "/api/v1/repos/octo/hello/statuses/{sha}"),
}
STATES = {
    "github": (["pending", "pending", "success"], "failure"),
    "gitlab": (["pending", "running", "success"], "failed"),
    "bitbucket-cloud": (["INPROGRESS", "INPROGRESS", "SUCCESSFUL"], "FAILED"),
    "bitbucket-server": (["INPROGRESS", "INPROGRESS", "SUCCESSFUL"], "FAILED"),
    "gitea": (["pending", "pending", "success"], "failure"),
}
AUTH = {
    "github": ("Authorization", f"Bearer {TOKEN}"),
    "gitlab": ("PRIVATE-TOKEN", TOKEN),
    "bitbucket-cloud": ("Authorization", f"Bearer {TOKEN}"),
    "bitbucket-server": ("Authorization", f"Bearer {TOKEN}"),
    "gitea": ("Authorization", f"token {TOKEN}"),
}


def _context_field(host, body):
    return body["context"] if host in ("github", "gitea") else body["name"]


@pytest.mark.parametrize("host", sorted(HOSTS))
def test_each_host_gets_pending_then_success_and_pending_then_failure(
    host, setup, receivers, git_repo, registry_url
):
    provider, name, api_path, path = HOSTS[host]
    api = receivers(201)
    image = unique_image(registry_url, "notify")
    context = setup(
        [
            repository(
                git_repo.url,
                image,
                provider=provider,
                name=name,
                webhook_secret_env="HOOK_SECRET",
                status=True,
                status_token_env="STATUS_TOKEN",
                api_url=api.url + api_path,
            )
        ]
    )
    sha = git_repo.head()

    status, good = run_build(context, sha)
    assert status == "success"
    first = api.wait_for(3)
    status, bad = run_build(context, sha, dockerfile="missing/Dockerfile")
    assert status == "failed"
    second = api.wait_for(6)[3:]

    success_states, failure_state = STATES[host]
    state_field = "state"
    assert [r.json[state_field] for r in first] == success_states
    assert [r.json[state_field] for r in second] == [*success_states[:2], failure_state]
    header, value = AUTH[host]
    for request, build in [*((r, good) for r in first), *((r, bad) for r in second)]:
        assert request.path == path.format(sha=sha)
        assert request.headers[header] == value
        assert request.headers["Content-Type"] == "application/json"
        body = request.json
        assert _context_field(host, body) == f"autobuild/{image}:latest"
        target_url = body["url"] if host.startswith("bitbucket") else body["target_url"]
        assert target_url == f"{PUBLIC_URL}/builds/{build.id}"
    assert first[-1].json["description"] == "Pushed latest."
    assert second[-1].json["description"] == bad.error
    if host == "gitlab":
        assert first[0].json["ref"] == "master"
    if host == "bitbucket-server":
        assert first[0].json["ref"] == "refs/heads/master"
        assert first[0].json["key"] == bitbucket_key_of(image)
    answers = poll(
        lambda: [
            a for a in read_answers(context.redis, bad.id) if a.ok and a.event == "build.failed"
        ]
    )
    assert answers[0].answer == "HTTP 201"
    assert answers[0].delivered == ("build.queued", "build.started", "build.failed")


def bitbucket_key_of(image):
    from worker.notify.statuses import bitbucket_key

    return bitbucket_key(f"autobuild/{image}:latest")


def test_a_signed_webhook_gets_every_event_in_order_and_verifies(
    setup, receivers, git_repo, registry_url
):
    hook, hub, chat = receivers(200), receivers(200), receivers(200)
    image = unique_image(registry_url, "notify")
    context = setup(
        [
            repository(
                git_repo.url,
                image,
                notify=[
                    {"url": hook.url + "/hooks/t0ken-in-path", "secret_env": "HOOK_SECRET"},
                    {"url": hub.url + "/hub", "format": "dockerhub"},
                    {"apprise_env": "CHAT_URL", "events": ["build.succeeded"]},
                ],
            )
        ],
        environ={"CHAT_URL": chat.url.replace("http://", "json://") + "/chat"},
    )

    status, record = run_build(context, git_repo.head())
    assert status == "success"

    got = hook.wait_for(3)
    assert [r.path for r in got] == ["/hooks/t0ken-in-path"] * 3
    verifier = Webhook(SECRET)
    bodies = [verifier.verify(r.body, r.headers) for r in got]
    assert [b["type"] for b in bodies] == ["build.queued", "build.started", "build.succeeded"]
    done = bodies[-1]["data"]
    assert done["build"]["id"] == record.id and done["build"]["status"] == "success"
    assert done["digest"] == record.digest and done["digest"].startswith("sha256:")
    assert done["tags"] == [f"{image}:latest"]
    assert done["build_url"] == f"{PUBLIC_URL}/builds/{record.id}"
    assert len({r.headers["webhook-id"] for r in got}) == 3
    tampered = dict(got[0].headers)
    with pytest.raises(Exception, match="signature"):
        verifier.verify(got[0].body + b" ", tampered)

    (pushed,) = hub.wait_for(1)
    payload = pushed.json
    assert payload["push_data"]["tag"] == "latest"
    assert payload["repository"]["repo_name"] == image.partition("/")[2]
    assert payload["callback_url"] == f"{PUBLIC_URL}/builds/{record.id}"

    (message,) = chat.wait_for(1)
    text = message.json["message"]
    assert record.repository in text and "master" in text and "latest" in text
    assert "succeeded" in text and f"{PUBLIC_URL}/builds/{record.id}" in text

    answers = poll(
        lambda: (
            len([a for a in read_answers(context.redis, record.id) if a.ok]) == 3
            and read_answers(context.redis, record.id)
        )
    )
    labels = {a.label for a in answers}
    assert f"{hook.url}/…" in labels and "t0ken" not in " ".join(labels)
    assert "apprise ($CHAT_URL)" in labels


def test_a_receiver_answering_500_twice_then_200_gets_every_event_in_order(
    setup, receivers, git_repo, registry_url
):
    hook = receivers(500, 500, 200)
    image = unique_image(registry_url, "notify")
    context = setup([repository(git_repo.url, image, notify=[{"url": hook.url + "/h"}])])

    status, record = run_build(context, git_repo.head())
    assert status == "success"

    got = hook.wait_for(5)
    types = [r.json["type"] for r in got]
    assert types == ["build.queued"] * 3 + ["build.started", "build.succeeded"]
    assert hook.answered[:3] == [500, 500, 200]
    (answer,) = poll(
        lambda: [a for a in read_answers(context.redis, record.id) if a.event == "build.succeeded"]
    )
    assert answer.ok and answer.answer == "HTTP 200"
    assert answer.delivered == ("build.queued", "build.started", "build.succeeded")
    client = create_app(context.settings, context.config).test_client()
    page = client.get(f"/builds/{record.id}").get_data(as_text=True)
    assert "Notifications" in page and f"{hook.url}/…" in page and "HTTP 200" in page
    listed = client.get(f"/api/v1/builds/{record.id}/notifications").get_json()
    assert [n["answer"] for n in listed["notifications"]] == ["HTTP 200"]
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'autobuild_notifications_total{kind="webhook",outcome="failed"} 2' in metrics
    assert 'autobuild_notifications_total{kind="webhook",outcome="delivered"} 3' in metrics


def test_a_receiver_that_never_answers_does_not_delay_the_build(
    setup, receivers, git_repo, registry_url
):
    hook = receivers(0)
    image = unique_image(registry_url, "notify")
    context = setup([repository(git_repo.url, image, notify=[{"url": hook.url + "/h"}])])
    configured = context.config.repositories[0]
    record = create_record(context.store, configured, git_repo.head())
    hook.wait_for(1)  # the queued event is being sent and will never be answered

    assert execute_build(context, record.id) == "success"
    assert hook.answered == []  # the build ended while its notification still hangs

    (answer,) = poll(lambda: read_answers(context.redis, record.id))
    assert not answer.ok and answer.answer.startswith("timed out after 2 s")
