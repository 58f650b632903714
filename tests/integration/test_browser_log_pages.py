"""The build page of a long log in a real browser (Chromium): the last 1000 lines first, and
**Load earlier lines** fetches the pages before them until the first line."""

from __future__ import annotations

import pytest

from core.build import BuildStatus
from core.logs import BuildLog
from core.store import BuildStore
from tests.integration.browser_helpers import (
    SECRET,
    add_record,
    chromium_browser,
    live_server,
    new_page,
    wait_until,
    write_ui_config,
)
from tests.integration.webhook_helpers import make_app, make_settings

pytestmark = pytest.mark.integration


def test_earlier_lines_load_a_page_at_a_time_above_the_last_ones(tmp_path, redis_url, clean_redis):
    store = BuildStore(clean_redis)
    record = add_record(store)
    log = BuildLog(clean_redis, record.id)
    for number in range(2500):
        log.append(f"line {number:05}")
    store.transition(record.id, BuildStatus.FAILED, error="stopped for the test")
    settings = make_settings(
        write_ui_config(tmp_path), redis_url, tmp_path, UI_WEBHOOK_SECRET=SECRET
    )
    with chromium_browser() as browser, live_server(make_app(settings)) as server:
        page = new_page(browser)
        page.goto(f"{server.url}/builds/{record.id}")
        lines = page.locator("#log .line")
        assert lines.count() == 1000
        assert lines.first.inner_text().endswith("line 01500")
        button = page.locator("#load-earlier")
        button.click()
        wait_until(page, "document.querySelectorAll('#log .line').length === 2000")
        button.click()
        wait_until(page, "document.querySelectorAll('#log .line').length === 2500")
        texts = page.evaluate(
            "Array.from(document.querySelectorAll('#log .line')).map(n => n.lastChild.textContent)"
        )
        assert texts == [f" line {number:05}" for number in range(2500)]
        assert page.locator("#log-earlier").is_hidden()
        assert page.js_errors == [], page.js_errors
        page.context.close()
