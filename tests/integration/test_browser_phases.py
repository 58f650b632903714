"""The build page draws its phases and progress from the record's data in a real browser
(chromium under Playwright): log lines that read like progress change nothing, progress with
no line that mentions it shows, and a phase the page does not know gets a row of its own."""

from __future__ import annotations

import pytest

from core.build import BuildStatus
from core.logs import BuildLog
from core.progress import PhaseStatus
from core.store import BuildStore
from tests.integration.browser_helpers import (
    ADMIN_TOKEN,
    FAKE_DIGEST,
    SECRET,
    add_record,
    chromium_browser,
    live_server,
    new_page,
    wait_until,
    write_ui_config,
)
from tests.integration.webhook_helpers import make_app, make_settings
from worker.phases.base import PhaseRecorder
from worker.progress import RecordProgress


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
        yield running


@pytest.fixture
def page(browser):
    page = new_page(browser)
    yield page
    assert page.js_errors == [], page.js_errors
    page.context.close()


def detail(page, row):
    return page.locator(f'[data-phase="{row}"] .phase-detail').inner_text()


def test_progress_comes_from_the_record_not_from_lines_that_look_like_it(server, store, page):
    record = add_record(store)
    phases = PhaseRecorder(store, record.id, record.attempt)
    progress = RecordProgress(store, record.id, record.attempt)
    log = BuildLog(store.redis, record.id)
    store.transition(record.id, BuildStatus.CLONING)
    phases.start("clone")
    phases.end(PhaseStatus.SUCCESS)
    store.transition(record.id, BuildStatus.BUILDING)
    phases.start("build")
    log.append("Step 7/9 : RUN echo this line is not progress", phase="build")
    log.append(f"Pushed {record.image}:latest as {FAKE_DIGEST}", phase="build")
    progress.step(2, 5)

    page.goto(f"{server.url}/builds/{record.id}")
    page.locator('.phase-active[data-phase="build"]').wait_for()
    assert detail(page, "build") == "step 2 of 5"  # as rendered by the server
    wait_until(page, "document.getElementById('log').textContent.includes('not progress')")
    assert detail(page, "build") == "step 2 of 5"  # and still, once the script drew it

    log.append("compiling", phase="build")  # a line that says nothing about progress
    progress.step(3, 5)
    log.append("still compiling", phase="build")
    wait_until(
        page,
        "document.querySelector('[data-phase=\"build\"] .phase-detail').textContent"
        " === 'step 3 of 5'",
    )
    assert page.locator("#log .marker").count() == 0  # no marker flag, no marker


def test_a_phase_the_page_does_not_know_gets_a_row_of_its_own_live(server, store, page):
    record = add_record(store)
    phases = PhaseRecorder(store, record.id, record.attempt)
    log = BuildLog(store.redis, record.id)
    page.goto(f"{server.url}/builds/{record.id}")
    page.locator("#log-empty").wait_for()
    assert page.locator(".phase").count() == 3  # clone, build, push (verify reads as push)

    store.transition(record.id, BuildStatus.BUILDING)
    for name in ("clone", "build"):
        phases.start(name)
        phases.end(PhaseStatus.SUCCESS)
    phases.start("autotest")
    log.phase("autotest", "Running the repository's tests")
    page.locator('.phase-active[data-phase="autotest"]').wait_for()
    assert page.locator('[data-phase="autotest"] .phase-title').inner_text() == "Autotest"
    assert page.locator("#log .marker").count() == 1  # the marker flag, not the text

    phases.close(PhaseStatus.FAILED, ["push", "verify"])
    log.append("Build failed: 2 tests failed")
    store.transition(record.id, BuildStatus.FAILED, error="2 tests failed")
    page.locator('#build[data-status="failed"]').wait_for()
    page.locator('.phase-failed[data-phase="autotest"]').wait_for()
    assert page.locator('.phase-done[data-phase="build"]').count() == 1
    assert page.locator('.phase-skipped[data-phase="push"]').count() == 1


def test_hook_phases_are_drawn_live_in_the_order_they_ran(server, store, page):
    record = add_record(store)
    phases = PhaseRecorder(store, record.id, record.attempt)
    page.goto(f"{server.url}/builds/{record.id}")
    page.locator("#log-empty").wait_for()

    store.transition(record.id, BuildStatus.BUILDING)
    for name in ("clone", "post_checkout", "pre_build", "build"):
        phases.start(name)
        phases.end(PhaseStatus.SUCCESS)
    phases.start("post_build")
    page.locator('.phase-active[data-phase="post_build"]').wait_for()
    order = page.evaluate(
        "[...document.querySelectorAll('#phases .phase')].map(node => node.dataset.phase)"
    )
    assert order == ["clone", "post_checkout", "pre_build", "build", "post_build", "push"]
    assert page.locator('[data-phase="pre_build"] .phase-title').inner_text() == "Pre build"
