"""A build's log is bounded: a line is cut at 16 KiB (and costs no more than a short one), the
log stops at AUTOBUILD_LOG_MAX_BYTES with one "Log truncated" line, and the web reads it in pages:
the build page shows the last lines, earlier ones come a page at a time, the raw log is streamed
in batches."""

from __future__ import annotations

import time

import pytest

from app.logpages import PAGE_LINES, RAW_BATCH_LINES
from core.loglines import CUT_MARKER, MAX_LINE_CHARS
from core.logs import BuildLog, log_bytes_key, read_log
from core.store import BuildStore, log_key
from tests.integration.browser_helpers import SECRET, add_record, write_ui_config
from tests.integration.webhook_helpers import make_app, make_settings

pytestmark = pytest.mark.integration


def test_a_one_mib_line_is_cut_masked_and_stored_in_well_under_a_second(clean_redis):
    log = BuildLog(clean_redis, "long-line")
    started = time.perf_counter()
    log.append("A" * (1 << 20) + " https://bob:hunter22@git.example/x.git")
    assert time.perf_counter() - started < 2  # a hang guard only: bench/loglines.py times it
    (line,) = read_log(clean_redis, "long-line")
    assert line.text == "A" * MAX_LINE_CHARS + " " + CUT_MARKER


def test_past_the_byte_cap_one_truncated_line_is_stored_and_then_nothing(clean_redis):
    log = BuildLog(clean_redis, "flood", max_bytes=10_000)
    for number in range(100):
        log.append(f"{number:04} " + "x" * 995)
    texts = [line.text for line in read_log(clean_redis, "flood")]
    assert len(texts) == 11
    assert texts[-1] == "Log truncated at 10000 bytes: later lines are not stored"
    size = clean_redis.memory_usage(log_key("flood"))

    BuildLog(clean_redis, "flood", max_bytes=10_000).append("attempt 2 starts")  # any writer
    log.append("x" * 1000)
    assert len(read_log(clean_redis, "flood")) == 11
    assert clean_redis.memory_usage(log_key("flood")) == size  # the log stopped growing
    assert clean_redis.ttl(log_bytes_key("flood")) > 0  # the count expires with the log


def test_the_default_cap_is_50_mib_and_is_named_in_mib(clean_redis, tmp_path):
    settings = make_settings(tmp_path / "x.yml", "redis://127.0.0.1:6379/0", tmp_path)
    assert settings.log_max_bytes == 50 * 1024 * 1024
    settings = make_settings(
        tmp_path / "x.yml", "redis://127.0.0.1:6379/0", tmp_path, AUTOBUILD_LOG_MAX_BYTES="2097152"
    )
    log = BuildLog.for_settings(clean_redis, "capped", None, settings)  # type: ignore[arg-type]
    assert log.max_bytes == 2 * 1024 * 1024
    log.append("y" * 16_000)
    for _ in range(200):
        log.append("y" * 16_000)
    assert read_log(clean_redis, "capped")[-1].text.startswith("Log truncated at 2 MiB")


def write_big_log(connection, build_id: str, lines: int, width: int) -> None:
    """``lines`` lines of ``width`` characters, written straight to the stream (quickly)."""
    pipe = connection.pipeline(transaction=False)
    for number in range(lines):
        text = f"line {number:06} " + "z" * (width - 12)
        pipe.xadd(log_key(build_id), {"t": "2026-01-01T00:00:00+00:00", "l": text})
        if number % 1000 == 999:
            pipe.execute()
    pipe.execute()


@pytest.fixture
def big_log(tmp_path, redis_url, clean_redis):
    """A build with a 20 MB log (20,000 lines of 1,000 characters), and a web client."""
    store = BuildStore(clean_redis)
    record = add_record(store)
    write_big_log(clean_redis, record.id, 20_000, 1000)
    settings = make_settings(
        write_ui_config(tmp_path), redis_url, tmp_path, UI_WEBHOOK_SECRET=SECRET
    )
    return record, make_app(settings).test_client()


def test_the_build_page_of_a_20_mb_log_shows_the_last_lines_and_a_load_earlier_button(big_log):
    record, client = big_log
    answer = client.get(f"/builds/{record.id}")
    page = answer.get_data(as_text=True)
    assert answer.status_code == 200
    assert len(page) < 2_000_000  # the last 1000 lines, not 20 MB
    assert page.count('<span class="line') == PAGE_LINES
    assert f"line {20_000 - PAGE_LINES:06}" in page and "line 018999 " not in page
    assert 'id="load-earlier"' in page and 'id="log-earlier" hidden' not in page


def test_earlier_lines_come_a_page_at_a_time_until_the_first(big_log, clean_redis):
    record, client = big_log
    ids = [line.id for line in read_log(clean_redis, record.id)]
    first_shown = ids[20_000 - PAGE_LINES]
    page = client.get(f"/api/v1/builds/{record.id}/logs?lines=1000&before={first_shown}").json
    assert page["earlier"] is True
    assert [line["text"][:11] for line in (page["lines"][0], page["lines"][-1])] == [
        "line 018000",
        "line 018999",
    ]
    oldest = client.get(f"/api/v1/builds/{record.id}/logs?lines=5000&before={ids[5000]}").json
    assert oldest["earlier"] is False and len(oldest["lines"]) == 5000
    assert oldest["lines"][0]["text"].startswith("line 000000")
    bad = client.get(f"/api/v1/builds/{record.id}/logs?before=x')--")
    assert bad.status_code == 400


def test_the_raw_log_is_streamed_in_bounded_batches(big_log):
    record, client = big_log
    answer = client.get(f"/api/v1/builds/{record.id}/logs", buffered=False)
    assert answer.is_streamed
    chunks = 0
    total = 0
    largest = 0
    for chunk in answer.response:
        chunks += 1
        total += len(chunk)
        largest = max(largest, len(chunk))
    answer.close()
    assert chunks == 20_000 // RAW_BATCH_LINES
    assert largest < RAW_BATCH_LINES * 1100  # one batch of lines in memory at a time
    assert total > 20_000_000
