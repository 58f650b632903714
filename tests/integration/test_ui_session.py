"""Admin login (signed cookie), the CSRF guard on cookie-authenticated API calls, and
AUTOBUILD_PRIVATE, through Flask's test client on the real Redis."""

from __future__ import annotations

import pytest

from core.build import BuildStatus
from core.store import BuildStore
from tests.integration.browser_helpers import ADMIN_TOKEN, REPO, SECRET, add_record, write_ui_config
from tests.integration.webhook_helpers import github_push, make_settings, post_github

UI_HEADER = {"X-Requested-With": "autobuild-ui"}


@pytest.fixture
def settings(tmp_path, redis_url, clean_redis):
    env = {"UI_WEBHOOK_SECRET": SECRET, "AUTOBUILD_ADMIN_TOKEN": ADMIN_TOKEN}
    return make_settings(write_ui_config(tmp_path), redis_url, tmp_path, **env)


@pytest.fixture
def store(clean_redis):
    return BuildStore(clean_redis)


def log_in(client, token=ADMIN_TOKEN, **extra):
    return client.post("/login", data={"token": token, **extra})


def session_cookie(answer):
    cookies = [v for v in answer.headers.getlist("Set-Cookie") if v.startswith("autobuild_session")]
    assert cookies, answer.headers
    return cookies[0]


# --- login ------------------------------------------------------------------------------------


def test_login_with_the_admin_token_sets_a_strict_httponly_cookie(client):
    answer = log_in(client, next="/repositories")
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/repositories"
    cookie = session_cookie(answer)
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "Secure" not in cookie  # plain http on loopback
    assert ADMIN_TOKEN not in cookie
    html = client.get("/").get_data(as_text=True)
    assert 'data-admin="true"' in html and "Log out" in html


def test_the_cookie_is_secure_over_https(client):
    answer = client.post("/login", data={"token": ADMIN_TOKEN}, base_url="https://localhost")
    assert "Secure" in session_cookie(answer)


def test_the_cookie_is_secure_when_the_public_url_is_https(client_for):
    client = client_for(AUTOBUILD_PUBLIC_URL="https://ab.example")
    assert "Secure" in session_cookie(log_in(client))


def test_a_wrong_token_is_refused_and_sets_no_session(client):
    answer = log_in(client, token="wrong")
    assert answer.status_code == 401
    assert "not the admin token" in answer.get_data(as_text=True)
    assert 'data-admin="false"' in client.get("/").get_data(as_text=True)


def test_login_never_redirects_off_site(client):
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        assert log_in(client, next=target).headers["Location"] == "/"


def test_login_is_disabled_without_an_admin_token(client_for):
    client = client_for(AUTOBUILD_ADMIN_TOKEN=None)
    answer = log_in(client, token="anything")
    assert answer.status_code == 403
    assert "AUTOBUILD_ADMIN_TOKEN is not set" in answer.get_data(as_text=True)


def test_a_cross_origin_login_form_is_refused(client):
    answer = client.post(
        "/login", data={"token": ADMIN_TOKEN}, headers={"Origin": "https://evil.example"}
    )
    assert answer.status_code == 403


def test_logout_ends_the_session(client, store):
    log_in(client)
    client.post("/logout")
    record = add_record(store)
    assert client.post(f"/api/v1/builds/{record.id}/cancel", headers=UI_HEADER).status_code == 401


def test_changing_the_admin_token_invalidates_old_cookies(client_for, store):
    browser = client_for()
    log_in(browser)

    def restarted(token):  # the same browser cookie, a restarted server
        client = client_for(AUTOBUILD_ADMIN_TOKEN=token)
        for cookie in browser._cookies.values():
            client.set_cookie(cookie.key, cookie.value, domain=cookie.domain)
        return client

    first, second = add_record(store), add_record(store)
    same = restarted(ADMIN_TOKEN).post(f"/api/v1/builds/{first.id}/cancel", headers=UI_HEADER)
    assert same.status_code == 200
    rotated = restarted("a-new-admin-token-9876")
    assert rotated.post(f"/api/v1/builds/{second.id}/cancel", headers=UI_HEADER).status_code == 401


# --- the API with the cookie --------------------------------------------------------------------


def test_cookie_authenticated_cancel_needs_the_csrf_header(client, store):
    record = add_record(store)
    log_in(client)
    refused = client.post(f"/api/v1/builds/{record.id}/cancel")
    assert refused.status_code == 403
    assert "X-Requested-With" in refused.json["error"]
    assert store.get(record.id).status is BuildStatus.QUEUED

    cross = client.post(
        f"/api/v1/builds/{record.id}/cancel",
        headers={**UI_HEADER, "Origin": "https://evil.example"},
    )
    assert cross.status_code == 403

    answer = client.post(
        f"/api/v1/builds/{record.id}/cancel", headers={**UI_HEADER, "Origin": "http://localhost"}
    )
    assert answer.status_code == 200, answer.json
    assert answer.json["status"] == "canceled"


def test_cookie_authenticated_retry_queues_a_new_build(client, store):
    record = add_record(store)
    store.transition(record.id, BuildStatus.FAILED, error="boom")
    log_in(client)
    answer = client.post(f"/api/v1/builds/{record.id}/retry", headers=UI_HEADER)
    assert answer.status_code == 202, answer.json
    assert answer.json["builds"][0]["retry_of"] == record.id


def test_bearer_tokens_work_as_before_and_need_no_csrf_header(client, store):
    record = add_record(store)
    answer = client.post(
        f"/api/v1/builds/{record.id}/cancel", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )
    assert answer.status_code == 200
    assert client.post(f"/api/v1/builds/{record.id}/cancel").status_code == 401


def test_cookie_authenticated_trigger_passes_the_token_check(client):
    assert client.post(f"/api/v1/repositories/github/{REPO}/trigger", json={}).status_code == 401
    log_in(client)
    refused = client.post(f"/api/v1/repositories/github/{REPO}/trigger", json={})
    assert refused.status_code == 403
    answer = client.post(f"/api/v1/repositories/github/{REPO}/trigger", json={}, headers=UI_HEADER)
    # the token check passed; the configured clone URL does not exist, so the git host "fails"
    assert answer.status_code == 502, answer.json


# --- AUTOBUILD_PRIVATE --------------------------------------------------------------------------


@pytest.fixture
def private_client(client_for):
    return client_for(AUTOBUILD_PRIVATE="1")


def test_private_pages_redirect_to_the_login(private_client, store):
    record = add_record(store)
    for path in ("/", f"/builds/{record.id}", f"/repositories/github/{REPO}", "/repositories"):
        answer = private_client.get(path)
        assert answer.status_code == 302, path
        assert answer.headers["Location"].startswith("/login?next=")


def test_private_api_and_badges_need_the_admin_token_or_session(private_client, store):
    record = add_record(store)
    paths = (
        "/api/v1/builds",
        f"/api/v1/builds/{record.id}",
        f"/api/v1/builds/{record.id}/logs",
        f"/badge/github/{REPO}.svg",
    )
    for path in paths:
        assert private_client.get(path).status_code == 401, path
        bearer = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        assert private_client.get(path, headers=bearer).status_code == 200, path
    log_in(private_client)
    for path in (*paths, "/", f"/builds/{record.id}"):
        assert private_client.get(path).status_code == 200, path


def test_private_mode_keeps_webhooks_health_login_and_static_files_open(private_client):
    assert private_client.get("/healthz").status_code == 200
    assert private_client.get("/login").status_code == 200
    with private_client.get("/static/style.css") as static:  # a file response: close it
        assert static.status_code == 200
    answer = post_github(private_client, SECRET, github_push(REPO, "refs/heads/master", "a" * 40))
    assert answer.status_code == 202, answer.json
    # the trigger endpoint keeps its own tokens
    trigger = private_client.post(f"/api/v1/repositories/github/{REPO}/trigger", json={})
    assert trigger.status_code == 401
    assert "trigger token" in trigger.json["error"]


def test_a_trigger_token_does_not_open_a_private_ui(client_for):
    client = client_for(AUTOBUILD_PRIVATE="1", UI_TRIGGER_TOKEN="trigger-only-token-0123456789")
    bearer = {"Authorization": "Bearer trigger-only-token"}
    assert client.get("/api/v1/builds", headers=bearer).status_code == 401
