"""The web UI with the real pipeline: a signed webhook, the real worker (``autobuild worker
--burst`` in its own process), Docker and the local registry, watched in headless chromium."""

from __future__ import annotations

import base64
import json
import re
import textwrap
import threading
import uuid
from urllib.parse import quote, quote_plus

import pytest
import requests

from core.store import BuildStore
from tests.integration.browser_helpers import (
    REPO,
    chromium_browser,
    live_server,
    new_page,
    screenshot,
    wait_until,
)
from tests.integration.webhook_helpers import (
    github_push,
    make_app,
    make_settings,
    registry_digest,
    run_burst_worker,
    sign,
)

MASKED_SECRET = "Wh-s3cret/for+masking=ok"


@pytest.fixture(scope="module")
def browser():
    with chromium_browser() as running:
        yield running


def write_config(tmp_path, clone_url, image):
    config = tmp_path / "autobuild.yml"
    config.write_text(
        textwrap.dedent(
            f"""
            registries:
              - host: 127.0.0.1:5000
            repositories:
              - provider: github
                name: {REPO}
                clone_url: {clone_url}
                image: {image}
                webhook_secret_env: UI_WEBHOOK_SECRET
                # The build page's "step N of M" reads the legacy builder's Step lines; BuildKit's
                # progress comes as data (worker.buildkit.trace on_progress) with the phase model.
                builder: legacy
                build_rules:
                  - source_type: branch
                    source: master
                    docker_tag: [latest, stable]
            """
        )
    )
    return config


def send_webhook(server, commit):
    body = json.dumps(github_push(REPO, "refs/heads/master", commit)).encode()
    answer = requests.post(
        server.url + "/webhooks/github",
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-GitHub-Event": "push",
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-Hub-Signature-256": sign(MASKED_SECRET, body),
        },
        timeout=10,
    )
    assert answer.status_code == 202, answer.text
    (build,) = answer.json()["builds"]
    return build


def start_worker(settings):
    result = {}

    def run():
        result["process"] = run_burst_worker(settings)

    thread = threading.Thread(target=run, name="burst-worker", daemon=True)
    thread.start()
    return thread, result


@pytest.fixture
def pipeline(tmp_path, redis_url, clean_redis, registry_url, base_image, make_git_repo):
    def make(dockerfile):
        repo = make_git_repo({"Dockerfile": dockerfile})
        image_path = f"autobuild-test/ui-{uuid.uuid4().hex[:10]}"
        config = write_config(tmp_path, repo.url, f"{registry_url}/{image_path}")
        settings = make_settings(config, redis_url, tmp_path, UI_WEBHOOK_SECRET=MASKED_SECRET)
        return repo, image_path, settings

    return make


def test_a_pushed_commit_is_built_by_the_worker_while_the_browser_watches(
    pipeline, base_image, registry_url, browser, redis_conn
):
    repo, image_path, settings = pipeline(
        f"FROM {base_image}\n"
        f"RUN echo compiling the app {uuid.uuid4().hex} && sleep 2 && echo compiled\n"
        "RUN echo packaging > /packaged.txt\n"
    )
    with live_server(make_app(settings)) as server:
        page = new_page(browser)
        page.goto(server.url + "/")
        page.evaluate("window.__noReload = 1")
        build = send_webhook(server, repo.head())
        row = page.locator(f'#builds tr[data-id="{build["id"]}"]')
        row.wait_for()
        assert page.evaluate("window.__noReload") == 1

        row.locator("a.open").click()
        page.wait_for_url(f"**/builds/{build['id']}")
        page.locator("#log-empty").wait_for()  # queued, no worker yet
        thread, result = start_worker(settings)

        page.locator("text=compiling the app").first.wait_for(timeout=120_000)
        growing = page.locator("#log .line").count()
        page.locator('#build[data-status="success"]').wait_for(timeout=180_000)
        thread.join(timeout=180)
        assert result["process"].returncode == 0, result["process"].stderr[-2000:]
        wait_until(page, "document.getElementById('log-state').textContent === 'complete'")
        assert page.locator("#log .line").count() > growing  # the log kept growing after that

        digest = registry_digest(registry_url, image_path, "latest")
        assert digest and page.locator("#digest-value").inner_text() == digest
        assert page.locator("#pull-command").input_value() == (
            f"docker pull {registry_url}/{image_path}@{digest}"
        )
        assert page.locator(".phase-done").count() == 4  # clone, build, push, attest
        step = page.locator('[data-phase="build"] .phase-detail').inner_text()
        assert re.fullmatch(r"step (\d+) of \1", step), step  # the worker may add LABEL steps
        assert page.locator('[data-phase="push"] .phase-detail').inner_text() == (
            "2 of 2 tags pushed"
        )
        assert page.locator("#log .marker").count() == 4  # clone, build, push, attest
        screenshot(page, "build-success-worker", readme=True)
        assert page.js_errors == []
        page.context.close()
    record = BuildStore(redis_conn).get(build["id"])
    assert record is not None and record.digest == digest


def test_a_failing_step_shows_the_workers_error_in_the_browser(pipeline, base_image, browser):
    repo, _, settings = pipeline(f"FROM {base_image}\nRUN echo about to fail && exit 3\n")
    with live_server(make_app(settings)) as server:
        build = send_webhook(server, repo.head())
        page = new_page(browser)
        page.goto(f"{server.url}/builds/{build['id']}")
        thread, _result = start_worker(settings)
        page.locator('#build[data-status="failed"]').wait_for(timeout=180_000)
        thread.join(timeout=180)
        error = page.locator("#error")
        error.wait_for()
        assert "3" in error.inner_text() and "Build failed" in error.inner_text()
        assert page.locator("#log .error-line").count() >= 1
        assert "about to fail" in page.locator("#log").inner_text()
        assert page.locator('.phase-failed[data-phase="build"]').count() == 1
        assert page.locator("#digest").is_hidden()
        screenshot(page, "build-failed-worker")
        assert page.js_errors == []
        page.context.close()


def secret_forms(secret):
    return {
        secret,
        quote(secret, safe=""),
        quote_plus(secret),
        base64.b64encode(secret.encode()).decode().rstrip("="),
    }


def test_a_dockerfile_echoing_a_configured_secret_never_shows_it(pipeline, base_image, browser):
    encoded = base64.b64encode(MASKED_SECRET.encode()).decode()
    repo, _, settings = pipeline(
        f"FROM {base_image}\n"
        f"RUN echo 'raw: {MASKED_SECRET}'\n"
        f"RUN echo 'url: {quote(MASKED_SECRET, safe='')}'\n"
        f"RUN echo 'b64: {encoded}'\n"
    )
    with live_server(make_app(settings)) as server:
        build = send_webhook(server, repo.head())
        thread, result = start_worker(settings)
        thread.join(timeout=240)
        assert result["process"].returncode == 0, result["process"].stderr[-2000:]

        page = new_page(browser)
        page.goto(f"{server.url}/builds/{build['id']}")
        page.locator('#build[data-status="success"]').wait_for()
        wait_until(page, "document.getElementById('log-state').textContent === 'complete'")
        shown = page.content() + page.locator("#log").inner_text()
        assert "raw: ******" in shown and "url: ******" in shown and "b64: " in shown
        raw_log = requests.get(f"{server.url}/api/v1/builds/{build['id']}/logs", timeout=10).text
        events = requests.get(
            f"{server.url}/api/v1/builds/{build['id']}/logs",
            headers={"Accept": "text/event-stream"},
            timeout=30,
        ).text
        record = requests.get(f"{server.url}/api/v1/builds/{build['id']}", timeout=10).text
        for form in secret_forms(MASKED_SECRET):
            for where, text in (
                ("page", shown),
                ("raw log", raw_log),
                ("events", events),
                ("record", record),
            ):
                assert form not in text, f"{form!r} shows in the {where}"
        assert page.js_errors == []
        page.context.close()
