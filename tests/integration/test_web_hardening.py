"""The web answers a hostile client (issue 18, items 9e, 9g, 9i): ``nosniff`` on every answer,
a guessing limit on failed credential checks, and private mode telling an anonymous client
nothing about which repositories exist or how the service is built. Flask's test client on the
real Redis."""

from __future__ import annotations

import pytest

from app.hardening import AUTH_FAILURE_LIMIT, AUTH_FAILURE_WINDOW_SECONDS
from app.private_answers import WEBHOOK_REFUSED
from core.store import BuildStore
from tests.integration.browser_helpers import ADMIN_TOKEN, REPO, SECRET, add_record, write_ui_config
from tests.integration.webhook_helpers import github_push, make_settings, post_github

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
TRIGGER_TOKEN = "ui-trigger-token-0123456789"


@pytest.fixture
def settings(tmp_path, redis_url, clean_redis):
    env = {
        "UI_WEBHOOK_SECRET": SECRET,
        "AUTOBUILD_ADMIN_TOKEN": ADMIN_TOKEN,
        "UI_TRIGGER_TOKEN": TRIGGER_TOKEN,
    }
    return make_settings(write_ui_config(tmp_path), redis_url, tmp_path, **env)


@pytest.fixture
def store(clean_redis):
    return BuildStore(clean_redis)


@pytest.fixture
def private_client(client_for):
    return client_for(AUTOBUILD_PRIVATE="1")


# --- nosniff ----------------------------------------------------------------------------------


def test_every_answer_says_nosniff(client, store):
    record = add_record(store)
    for path in (
        "/api/v1/builds",
        f"/api/v1/builds/{record.id}/logs",
        "/api/v1/builds/nope",
        "/healthz",
        "/metrics",
        "/",
    ):
        answer = client.get(path)
        assert answer.headers["X-Content-Type-Options"] == "nosniff", path
    webhook = post_github(client, "wrong-secret", github_push(REPO, "refs/heads/x", "a" * 40))
    assert webhook.headers["X-Content-Type-Options"] == "nosniff"


# --- guessing limit ---------------------------------------------------------------------------


def guess(client, path="/api/v1/builds/nope/cancel", token="guess", address="10.9.8.7"):
    return client.post(
        path,
        headers={"Authorization": f"Bearer {token}"},
        environ_base={"REMOTE_ADDR": address},
    )


def test_failed_bearer_tokens_are_limited_per_client_with_429_and_retry_after(client):
    answers = [guess(client).status_code for _ in range(AUTH_FAILURE_LIMIT)]
    assert answers == [401] * AUTH_FAILURE_LIMIT

    refused = guess(client, token=ADMIN_TOKEN)  # even the right token: no more comparisons
    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= AUTH_FAILURE_WINDOW_SECONDS
    assert "Too many failed credential checks" in refused.json["error"]

    other = guess(client, token=ADMIN_TOKEN, address="10.9.8.8")  # another client is not
    assert other.status_code == 404  # the admin token passed; the build does not exist
    assert client.get("/api/v1/builds", environ_base={"REMOTE_ADDR": "10.9.8.7"}).status_code == 200


def test_failed_trigger_tokens_count_as_guesses(client):
    path = f"/api/v1/repositories/github/{REPO}/trigger"
    for _ in range(AUTH_FAILURE_LIMIT):
        assert guess(client, path).status_code == 401
    assert guess(client, path, token=TRIGGER_TOKEN).status_code == 429


def test_failed_admin_logins_are_limited(client):
    def login(token):
        return client.post(
            "/login", data={"token": token}, environ_base={"REMOTE_ADDR": "10.1.1.1"}
        )

    for _ in range(AUTH_FAILURE_LIMIT):
        assert login("wrong").status_code == 401
    answer = login(ADMIN_TOKEN)
    assert answer.status_code == 429
    assert "Retry-After" in answer.headers


def test_a_right_token_does_not_count(client):
    for _ in range(AUTH_FAILURE_LIMIT + 5):
        assert client.get("/api/v1/builds", headers=ADMIN).status_code == 200


# --- private mode -----------------------------------------------------------------------------


def test_private_webhooks_answer_unknown_repositories_like_known_ones(private_client):
    known = post_github(private_client, "wrong-secret", github_push(REPO, "refs/heads/x", "a" * 40))
    unknown = post_github(
        private_client, "wrong-secret", github_push("octo/secret-project", "refs/heads/x", "a" * 40)
    )
    assert known.status_code == unknown.status_code == 401
    assert known.json == unknown.json == {"error": WEBHOOK_REFUSED}


def test_public_webhooks_still_explain_an_unknown_repository(client):
    unknown = post_github(client, SECRET, github_push("octo/nothere", "refs/heads/x", "a" * 40))
    assert unknown.status_code == 404
    assert "is not configured" in unknown.json["error"]


def test_private_trigger_answers_unknown_repositories_like_known_ones(private_client):
    bad = {"Authorization": "Bearer not-a-token"}
    for headers, status in (({}, 401), (bad, 401)):
        known = private_client.post(f"/api/v1/repositories/github/{REPO}/trigger", headers=headers)
        unknown = private_client.post(
            "/api/v1/repositories/github/octo/nothere/trigger", headers=headers
        )
        assert known.status_code == unknown.status_code == status
        assert known.json["error"].replace(REPO, "X") == unknown.json["error"].replace(
            "octo/nothere", "X"
        )
    admin = private_client.post("/api/v1/repositories/github/octo/nothere/trigger", headers=ADMIN)
    assert admin.status_code == 404


def test_anonymous_readyz_in_private_mode_says_only_whether_ready(private_client):
    anonymous = private_client.get("/readyz")
    assert set(anonymous.json) == {"ready"}
    admin = private_client.get("/readyz", headers=ADMIN)
    assert {"ready", "checks", "registries", "workers"} <= set(admin.json)
    assert anonymous.status_code == admin.status_code


def test_private_metrics_need_the_admin_bearer_token(private_client, client):
    anonymous = private_client.get("/metrics")
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    admin = private_client.get("/metrics", headers=ADMIN)
    assert admin.status_code == 200
    assert "autobuild_queue_depth" in admin.get_data(as_text=True)
    assert client.get("/metrics").status_code == 200  # public mode: open
