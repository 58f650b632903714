"""The log's Server-Sent Events carry the build record (phases, progress) as data, before the
lines it goes with, and mark a phase's heading line with a flag instead of its text."""

from __future__ import annotations

import json

import pytest

from core.build import BuildRecord, BuildStatus
from core.logs import BuildLog, LogLine, follow_build, read_log
from core.store import BuildStore
from tests.integration.browser_helpers import SECRET, add_record, write_ui_config
from tests.integration.webhook_helpers import make_app, make_settings
from worker.phases.base import PhaseRecorder
from worker.progress import RecordProgress

pytestmark = pytest.mark.integration


def events(body: str) -> list[tuple[str, dict]]:
    found = []
    for block in body.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in fields:
            found.append((fields["event"], json.loads(fields["data"])))
    return found


def test_the_event_stream_sends_the_record_before_its_lines_and_flags_markers(
    tmp_path, redis_url, clean_redis
):
    store = BuildStore(clean_redis)
    record = add_record(store)
    log = BuildLog(clean_redis, record.id)
    store.transition(record.id, BuildStatus.BUILDING)
    PhaseRecorder(store, record.id, record.attempt).start("build")
    RecordProgress(store, record.id, record.attempt).step(1, 2)
    log.phase("build", "Building")
    log.append("Step 1/2 : FROM scratch", phase="build")
    store.transition(record.id, BuildStatus.FAILED, error="stopped for the test")
    settings = make_settings(
        write_ui_config(tmp_path), redis_url, tmp_path, UI_WEBHOOK_SECRET=SECRET
    )
    client = make_app(settings).test_client()

    answer = client.get(f"/api/v1/builds/{record.id}/logs", headers={"Accept": "text/event-stream"})
    sent = events(answer.get_data(as_text=True))

    assert [kind for kind, _ in sent] == ["build", "line", "line", "end"]
    build = sent[0][1]
    assert build["progress"]["steps"] == [{"number": 1, "total": 2, "platform": None}]
    assert [(p["name"], p["status"]) for p in build["phases"]] == [("build", "running")]
    assert [data["marker"] for kind, data in sent if kind == "line"] == [True, False]
    assert sent[-1][1] == {"status": "failed"}


def test_following_a_build_reads_the_record_after_the_lines_it_yields(clean_redis):
    store = BuildStore(clean_redis)
    record = add_record(store)
    store.transition(record.id, BuildStatus.BUILDING)
    progress = RecordProgress(store, record.id, record.attempt)
    log = BuildLog(clean_redis, record.id)
    progress.step(1, 3)  # as the builder does it: the step first, then its line
    log.append("Step 1/3 : FROM scratch", phase="build")
    follower = follow_build(clean_redis, store, record.id, block_ms=50)
    first, second = next(follower), next(follower)
    assert isinstance(first, BuildRecord) and isinstance(second, LogLine)
    assert first.progress.step().number == 1 and second.text.startswith("Step 1/3")
    progress.step(2, 3)
    log.append("Step 2/3 : RUN true", phase="build")
    store.transition(record.id, BuildStatus.FAILED, error="stopped for the test")
    rest = [item for item in follower if item is not None]
    records = [item for item in rest if not hasattr(item, "text")]
    assert records and records[0].progress.step().number == 2  # never older than the line
    assert [line.text for line in read_log(clean_redis, record.id)][-1] == "Step 2/3 : RUN true"
