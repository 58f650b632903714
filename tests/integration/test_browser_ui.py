"""The web UI in a real browser (Debian's chromium, headless, under Playwright) against a real
server on 127.0.0.1. Builds are driven by writing records and log lines through the store and
BuildLog the way the worker does, so every step of "the log grows" is deterministic; the tests
with the real worker are in test_browser_worker.py. Screenshots go to test-output/screenshots/.
"""

from __future__ import annotations

import json
import threading
import uuid

import pytest
import requests

from core.build import BuildStatus, Trigger
from core.events import RefType
from core.store import BuildStore
from tests.integration.browser_helpers import (
    ADMIN_TOKEN,
    FAKE_DIGEST,
    REPO,
    SECRET,
    add_record,
    chromium_browser,
    live_server,
    new_page,
    run_fake_build,
    screenshot,
    wait_until,
    write_ui_config,
)
from tests.integration.webhook_helpers import github_push, make_app, make_settings, sign


@pytest.fixture(scope="module")
def browser():
    with chromium_browser() as running:
        yield running


@pytest.fixture
def store(clean_redis):
    return BuildStore(clean_redis)


@pytest.fixture
def server(tmp_path, redis_url, clean_redis, make_git_repo):
    repo = make_git_repo({"Dockerfile": "FROM scratch\n"})
    config = write_ui_config(tmp_path, clone_url=repo.url)
    settings = make_settings(
        config, redis_url, tmp_path, UI_WEBHOOK_SECRET=SECRET, AUTOBUILD_ADMIN_TOKEN=ADMIN_TOKEN
    )
    with live_server(make_app(settings)) as running:
        running.git_repo = repo
        yield running


@pytest.fixture
def page(browser):
    page = new_page(browser)
    yield page
    assert page.js_errors == [], page.js_errors
    page.context.close()


def mark_page(page):
    """Set a value that a reload would lose."""
    page.evaluate("window.__noReload = 'still here'")


def assert_not_reloaded(page):
    assert page.evaluate("window.__noReload") == "still here"


def send_webhook(server, commit, ref="refs/heads/master"):
    body = json.dumps(github_push(REPO, ref, commit)).encode()
    answer = requests.post(
        server.url + "/webhooks/github/octo/ui-demo",
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-GitHub-Event": "push",
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-Hub-Signature-256": sign(SECRET, body),
        },
        timeout=10,
    )
    assert answer.status_code == 202, answer.text
    return answer.json()["builds"]


def line_count(page):
    return page.locator("#log .line").count()


def log_in(page, server):
    page.goto(server.url + "/login")
    page.fill("#token", ADMIN_TOKEN)
    page.click("button[type=submit]")
    page.wait_for_selector("body[data-admin=true]")


# --- dashboard --------------------------------------------------------------------------------


def seed_history(store):
    """A few finished builds, so the dashboard screenshot shows every kind of row."""
    run_fake_build(store, add_record(store, source_type=RefType.TAG, source_name="v1.3.0",
                                     docker_tags=("1.3.0",), rule_indexes=(1,)))  # fmt: skip
    run_fake_build(store, add_record(store, source_name="master"), fail_at_step=2)
    manual = add_record(store, provider="gitlab", repository="group/other", source_name="main",
                        docker_tags=("latest",), trigger=Trigger.MANUAL)  # fmt: skip
    run_fake_build(store, manual)


def test_a_webhook_build_appears_on_the_dashboard_without_a_reload(server, store, page):
    seed_history(store)
    page.goto(server.url + "/")
    assert page.locator("#builds tbody tr").count() == 3
    mark_page(page)

    (build,) = send_webhook(server, "c0ffee" * 6 + "abcd")
    row = page.locator(f'#builds tr[data-id="{build["id"]}"]')
    row.wait_for()
    assert row.locator(".status").inner_text() == "queued"
    assert "c0ffeec" in row.inner_text() and "latest" in row.inner_text()

    store.transition(build["id"], BuildStatus.BUILDING)
    row.locator('.status[data-status="building"]').wait_for()
    assert_not_reloaded(page)
    wait_until(page, "document.getElementById('summary').textContent.includes('1 running')")
    screenshot(page, "dashboard", readme=True, full_page=False)

    # the filters narrow the live table too
    page.select_option("select[name=status]", "success")
    page.wait_for_url("**/?*status=success*")
    wait_until(
        page,
        "(() => { const s = [...document.querySelectorAll('#builds tbody .status')]"
        ".map(e => e.textContent.trim());"
        " return s.length > 0 && s.every(t => t === 'success'); })()",
    )
    statuses = page.locator("#builds tbody .status").all_inner_texts()
    assert statuses and set(statuses) == {"success"}


# --- build page -------------------------------------------------------------------------------


def test_the_build_page_follows_the_log_until_success_and_shows_the_digest(server, store, page):
    record = add_record(store)
    gate = threading.Semaphore(0)
    page.goto(f"{server.url}/builds/{record.id}")
    page.locator("#log-empty").wait_for()
    assert page.locator(".phase-pending").count() == 3
    mark_page(page)

    worker = threading.Thread(
        target=run_fake_build, args=(store, record, lambda: gate.acquire(timeout=60)), daemon=True
    )
    worker.start()
    wait_until(page, "document.querySelectorAll('#log .line').length >= 2")
    page.locator('.phase-active[data-phase="clone"]').wait_for()

    counts = [line_count(page)]
    shot = False
    while True:
        gate.release()
        wait_until(
            page,
            f"document.querySelectorAll('#log .line').length > {counts[-1]} "
            "|| document.getElementById('build').dataset.status === 'success'",
        )
        counts.append(line_count(page))
        if not shot and "Step 2/3" in page.locator("#log").inner_text():
            shot = True
            page.locator('.phase-active[data-phase="build"]').wait_for()
            assert page.locator('[data-phase="build"] .phase-detail').inner_text() == "step 2 of 3"
            page.locator('h1 .status[data-status="building"]').wait_for()
            screenshot(page, "build-running")
        if page.locator("#build").get_attribute("data-status") == "success":
            break
        assert len(counts) < 40, counts
    worker.join(timeout=10)

    assert counts == sorted(counts) and len(set(counts)) >= 10, counts  # it grew, line by line
    page.locator('#build[data-status="success"]').wait_for()
    page.locator("#digest").wait_for()
    assert page.locator("#digest-value").inner_text() == FAKE_DIGEST
    pull = page.locator("#pull-command").input_value()
    assert pull == f"docker pull 127.0.0.1:5000/octo/ui-demo@{FAKE_DIGEST}"
    assert page.locator(".phase-done").count() == 3
    assert page.locator('[data-phase="push"] .phase-detail').inner_text() == "2 of 2 tags pushed"
    wait_until(page, "document.getElementById('log-state').textContent === 'complete'")
    assert page.locator("#error").is_hidden()
    assert_not_reloaded(page)
    # the whole log arrived exactly once, in order: the same as the raw log download
    shown = page.locator("#log .line").all_inner_texts()
    raw = requests.get(f"{server.url}/api/v1/builds/{record.id}/logs", timeout=10).text
    assert shown == raw.splitlines()
    assert any("Successfully built 9a8b7c6d5e4f" in line for line in shown)


def test_a_failed_build_shows_its_error_sentence(server, store, page):
    record = add_record(store)
    page.goto(f"{server.url}/builds/{record.id}")
    mark_page(page)
    run_fake_build(store, record, fail_at_step=2)
    page.locator('#build[data-status="failed"]').wait_for()
    error = page.locator("#error")
    error.wait_for()
    assert "returned a non-zero code: 3" in error.inner_text()
    assert "Build failed" in error.inner_text()
    assert page.locator("#log .error-line").count() == 1
    assert page.locator('.phase-failed[data-phase="build"]').count() == 1
    assert page.locator('.phase-skipped[data-phase="push"]').count() == 1
    assert page.locator("#digest").is_hidden()
    assert_not_reloaded(page)
    screenshot(page, "build-failed")


# --- admin ------------------------------------------------------------------------------------


def test_admin_cancels_and_retries_from_the_build_page(server, store, page):
    record = add_record(store)
    store.transition(record.id, BuildStatus.BUILDING)
    page.goto(f"{server.url}/builds/{record.id}")
    assert page.locator("#cancel").count() == 0  # not logged in: no buttons
    log_in(page, server)
    page.goto(f"{server.url}/builds/{record.id}")
    page.click("#cancel")
    page.locator('#build[data-status="canceled"]').wait_for()
    assert "Canceled by an administrator" in page.locator("#error").inner_text()
    assert store.get(record.id).status is BuildStatus.CANCELED

    page.locator("#retry").wait_for()
    page.click("#retry")
    page.wait_for_url(lambda url: record.id not in url and "/builds/" in url)
    new_id = page.url.rsplit("/", 1)[1]
    assert store.get(new_id).retry_of == record.id
    assert page.locator("h1 .status").inner_text() == "queued"


def test_admin_triggers_a_rule_from_the_repository_page(server, store, page):
    log_in(page, server)
    page.goto(f"{server.url}/repositories/github/{REPO}")
    assert (
        page.locator("#webhook-url").input_value() == server.url + "/webhooks/github/octo/ui-demo"
    )
    assert "UI_WEBHOOK_SECRET" in page.locator("#webhook").inner_text()
    assert SECRET not in page.content()
    page.click("button.trigger:has-text('Build master')")
    message = page.locator("#action-message")
    message.locator("a").first.wait_for()
    assert "Queued 1 build" in message.inner_text()
    (build,) = store.recent()
    assert build.trigger is Trigger.MANUAL and build.commit == server.git_repo.head()

    page.fill("#trigger-form input[name=name]", "no-such-branch")
    page.click("#trigger-form button[type=submit]")
    page.locator("#action-message.is-error").wait_for()
    assert "no-such-branch" in message.inner_text()
    screenshot(page, "repository")


def test_private_mode_sends_the_browser_to_the_login_and_back(tmp_path, redis_url, store, browser):
    config = write_ui_config(tmp_path)
    settings = make_settings(
        config, redis_url, tmp_path, AUTOBUILD_ADMIN_TOKEN=ADMIN_TOKEN, AUTOBUILD_PRIVATE="1"
    )
    record = add_record(store)
    with live_server(make_app(settings)) as server:
        page = new_page(browser)
        page.goto(f"{server.url}/builds/{record.id}")
        assert "/login" in page.url
        page.fill("#token", ADMIN_TOKEN)
        page.click("button[type=submit]")
        page.wait_for_url(f"{server.url}/builds/{record.id}")
        assert page.locator("h1 .status").inner_text() == "queued"
        cookie = next(c for c in page.context.cookies() if c["name"] == "autobuild_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        assert page.evaluate("document.cookie") == ""  # HttpOnly: scripts cannot read it
        assert page.js_errors == []
        page.context.close()


def test_the_dashboard_says_when_the_server_is_gone(tmp_path, redis_url, store, browser):
    settings = make_settings(write_ui_config(tmp_path), redis_url, tmp_path)
    page = new_page(browser)
    with live_server(make_app(settings)) as server:
        page.goto(server.url + "/")
        assert page.locator("#connection").is_hidden()
    page.locator("#connection").wait_for()  # the next poll fails
    assert "lost" in page.locator("#connection").inner_text()
    assert page.js_errors == []
    page.context.close()
