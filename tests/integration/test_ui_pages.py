"""The server-rendered pages and the badge, through Flask's test client on the real Redis."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from core.build import BuildStatus
from core.events import RefType
from core.store import BuildStore
from tests.integration.browser_helpers import (
    ADMIN_TOKEN,
    FAKE_DIGEST,
    REPO,
    SECRET,
    add_record,
    build_log,
    run_fake_build,
    write_ui_config,
)
from tests.integration.webhook_helpers import make_settings


@pytest.fixture
def settings(tmp_path, redis_url, clean_redis):
    config = write_ui_config(tmp_path)
    return make_settings(
        config, redis_url, tmp_path, UI_WEBHOOK_SECRET=SECRET, AUTOBUILD_ADMIN_TOKEN=ADMIN_TOKEN
    )


@pytest.fixture
def store(clean_redis):
    return BuildStore(clean_redis)


# --- dashboard --------------------------------------------------------------------------------


def test_dashboard_lists_builds_with_status_ref_tags_commit_and_trigger(client, store):
    record = add_record(store, source_type=RefType.TAG, source_name="v1.2", docker_tags=("1.2",))
    page = client.get("/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f'data-id="{record.id}"' in html
    assert 'class="status status-queued"' in html
    assert "v1.2" in html and '<span class="tag">1.2</span>' in html
    assert record.commit[:7] in html and "webhook" in html
    assert f"/builds/{record.id}" in html
    assert f"/repositories/github/{REPO}" in html


def test_dashboard_and_api_refuse_an_unknown_status_the_same_way(client, store):
    add_record(store)
    page = client.get("/?status=success,bogus")
    api = client.get("/api/v1/builds?status=success,bogus")
    assert (page.status_code, api.status_code) == (400, 400)
    message = api.get_json()["error"]
    assert message.startswith("Unknown status 'bogus'; use one of queued,")
    assert message.replace("'", "&#39;") in page.get_data(as_text=True)


def test_dashboard_filters_by_repository_and_status(client, store):
    mine = add_record(store)
    other = add_record(store, provider="gitlab", repository="group/other")
    done = add_record(store)
    store.transition(done.id, BuildStatus.SUCCESS)

    html = client.get("/?repository=gitlab/group/other").get_data(as_text=True)
    assert other.id in html and mine.id not in html

    html = client.get(f"/?repository=github/{REPO}&status=success").get_data(as_text=True)
    assert done.id in html and mine.id not in html and other.id not in html

    html = client.get("/?status=queued,cloning,building,pushing").get_data(as_text=True)
    assert mine.id in html and other.id in html and done.id not in html
    # the table tells the polling script the same filter, in the API's terms
    assert 'data-provider="github"' in client.get(f"/?repository=github/{REPO}").get_data(
        as_text=True
    )


def test_dashboard_says_so_when_there_are_no_builds(client):
    html = client.get("/").get_data(as_text=True)
    assert 'id="empty"' in html and "No builds" in html


# --- build page -------------------------------------------------------------------------------


def test_build_page_shows_phases_log_digest_and_pull_command(client, store):
    record = run_fake_build(store, add_record(store))
    html = client.get(f"/builds/{record.id}").get_data(as_text=True)
    assert "step 3 of 3" in html
    assert "2 of 2 tags pushed" in html
    assert html.count('class="phase phase-done"') == 3
    assert "Step 2/3 : RUN echo compiling" in html
    assert f"docker pull 127.0.0.1:5000/octo/ui-demo@{FAKE_DIGEST}" in html
    assert f'href="/api/v1/builds/{record.id}/logs"' in html  # the raw log
    assert 'id="error" role="alert" hidden' in html


def test_build_page_highlights_the_error_of_a_failed_build(client, store):
    record = run_fake_build(store, add_record(store), fail_at_step=2)
    html = client.get(f"/builds/{record.id}").get_data(as_text=True)
    assert "returned a non-zero code: 3" in html
    assert 'id="error" role="alert" >' in html or 'id="error" role="alert">' in html
    assert 'class="phase phase-failed" data-phase="build"' in html
    assert 'class="phase phase-skipped" data-phase="push"' in html
    assert "step 2 of 3" in html
    assert 'id="digest" hidden' in html


def test_build_page_of_a_queued_build_waits_for_a_worker(client, store):
    record = add_record(store)
    html = client.get(f"/builds/{record.id}").get_data(as_text=True)
    assert "Waiting for a worker" in html
    assert html.count('class="phase phase-pending"') == 3


def test_unknown_build_is_a_404_page(client):
    page = client.get("/builds/" + "0" * 32)
    assert page.status_code == 404
    assert "There is no build" in page.get_data(as_text=True)


def test_log_lines_are_escaped_not_interpreted(client, store):
    record = add_record(store)
    build_log(store, record.id).append("<script>alert(1)</script>")
    html = client.get(f"/builds/{record.id}").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_pages_send_a_strict_content_security_policy(client):
    policy = client.get("/").headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy


# --- repository page --------------------------------------------------------------------------


def test_repository_page_shows_rules_webhook_url_secret_name_and_badge(client, store):
    matched = add_record(store, rule_indexes=(1,), source_type=RefType.TAG, source_name="v2.0")
    html = client.get(f"/repositories/github/{REPO}").get_data(as_text=True)
    assert 'value="http://localhost/webhooks/github/octo/ui-demo"' in html
    assert "UI_WEBHOOK_SECRET" in html and "(set on this server)" in html
    assert SECRET not in html
    assert "application/json" in html
    assert "<code>/^v([0-9.]+)$/</code>" in html
    assert '<span class="tag">latest</span><span class="tag">edge</span>' in html
    assert f"http://localhost/badge/github/{REPO}.svg" in html
    assert f"{REPO}.svg?tag=latest" in html
    # the build of rule 2 is listed in rule 2's row, not in rule 1's
    rows = html.split('<tr data-rule="')
    assert matched.id in rows[2] and matched.id not in rows[1]


def test_repository_page_uses_the_public_url_for_the_webhook(client_for):
    client = client_for(
        AUTOBUILD_PUBLIC_URL="https://builds.example.org/",
        UI_WEBHOOK_SECRET=None,
        AUTOBUILD_ADMIN_TOKEN=None,
    )
    html = client.get(f"/repositories/github/{REPO}").get_data(as_text=True)
    assert 'value="https://builds.example.org/webhooks/github/octo/ui-demo"' in html
    assert "not set on this server" in html


def test_repository_names_are_case_insensitive_and_unknown_ones_404(client):
    assert client.get(f"/repositories/github/{REPO.upper()}").status_code == 200
    assert client.get("/repositories/github/nobody/here").status_code == 404


def test_repositories_page_lists_each_with_its_last_build(client, store):
    add_record(store)
    html = client.get("/repositories").get_data(as_text=True)
    assert REPO in html and "group/other" in html and "status-queued" in html


# --- badge ------------------------------------------------------------------------------------


def badge_text(answer):
    root = ET.fromstring(answer.get_data())
    return root.find("{http://www.w3.org/2000/svg}title").text


def test_badge_is_an_uncached_svg_of_the_latest_build(client, store):
    answer = client.get(f"/badge/github/{REPO}.svg")
    assert answer.status_code == 200
    assert answer.mimetype == "image/svg+xml"
    assert "no-cache" in answer.headers["Cache-Control"]
    assert badge_text(answer) == "build: unknown"

    record = run_fake_build(store, add_record(store))
    assert badge_text(client.get(f"/badge/github/{REPO}.svg")) == "build: passing"
    failed = run_fake_build(store, add_record(store), fail_at_step=2)
    assert badge_text(client.get(f"/badge/github/{REPO}.svg")) == "build: failing"
    assert record.id != failed.id


def test_badge_per_tag_looks_at_the_latest_build_carrying_that_tag(client, store):
    run_fake_build(store, add_record(store, docker_tags=("1.0",), source_type=RefType.TAG))
    run_fake_build(store, add_record(store), fail_at_step=2)  # latest, edge
    assert badge_text(client.get(f"/badge/github/{REPO}.svg?tag=1.0")) == "build 1.0: passing"
    assert badge_text(client.get(f"/badge/github/{REPO}.svg?tag=latest")) == "build latest: failing"
    assert badge_text(client.get(f"/badge/github/{REPO}.svg?tag=nope")) == "build nope: unknown"


def test_badge_of_an_unconfigured_repository_is_a_404_svg(client):
    answer = client.get("/badge/github/nobody/here.svg")
    assert answer.status_code == 404 and answer.mimetype == "image/svg+xml"
