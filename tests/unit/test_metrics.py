"""Metrics: histogram buckets, the Prometheus text format, outcomes of webhook answers."""

from __future__ import annotations

from datetime import timedelta

from app.metrics import Exposition
from core.build import BuildRecord, BuildStatus, utcnow
from core.events import RefType
from core.metrics import (
    BUILD_DURATION,
    BUILDS_FINISHED,
    QUEUE_BUCKETS,
    QUEUE_DURATION,
    Histogram,
    bucket_index,
    record_transition,
    webhook_outcome,
)


class RecordingPipe:
    def __init__(self):
        self.calls = []

    def hincrby(self, key, field, amount):
        self.calls.append(("hincrby", key, field, amount))

    def hincrbyfloat(self, key, field, amount):
        self.calls.append(("hincrbyfloat", key, field, amount))


def make_record(**changes) -> BuildRecord:
    base = BuildRecord(
        id="b1",
        provider="github",
        repository="octo/hello",
        source_type=RefType.BRANCH,
        source_name="master",
        commit="1" * 40,
        image="127.0.0.1:5000/octo/hello",
        docker_tags=("latest",),
        dockerfile="Dockerfile",
        context="/",
    )
    return base.with_changes(**changes)


def test_bucket_index_puts_a_value_in_the_first_bucket_that_holds_it():
    assert bucket_index(0.0, (1, 5)) == 0
    assert bucket_index(1.0, (1, 5)) == 0
    assert bucket_index(1.5, (1, 5)) == 1
    assert bucket_index(99, (1, 5)) == 2  # +Inf


def test_a_pickup_records_the_queue_wait_once():
    created = utcnow()
    queued = make_record(created_at=created)
    started = queued.with_changes(
        status=BuildStatus.CLONING, started_at=created + timedelta(seconds=3)
    )
    pipe = RecordingPipe()
    record_transition(pipe, queued, started)
    index = bucket_index(3.0, QUEUE_BUCKETS)
    assert ("hincrby", QUEUE_DURATION, str(index), 1) in pipe.calls
    assert ("hincrbyfloat", QUEUE_DURATION, "sum", 3.0) in pipe.calls
    assert ("hincrby", QUEUE_DURATION, "count", 1) in pipe.calls
    assert not any(call[1] == BUILDS_FINISHED for call in pipe.calls)


def test_an_end_counts_the_status_and_the_build_duration():
    now = utcnow()
    running = make_record(status=BuildStatus.PUSHING, started_at=now)
    done = running.with_changes(status=BuildStatus.SUCCESS, finished_at=now + timedelta(seconds=42))
    pipe = RecordingPipe()
    record_transition(pipe, running, done)
    assert ("hincrby", BUILDS_FINISHED, "success", 1) in pipe.calls
    assert ("hincrbyfloat", BUILD_DURATION, "success|sum", 42.0) in pipe.calls


def test_a_build_canceled_while_queued_counts_but_has_no_duration():
    queued = make_record()
    canceled = queued.with_changes(
        status=BuildStatus.CANCELED, started_at=utcnow(), finished_at=utcnow()
    )
    pipe = RecordingPipe()
    record_transition(pipe, queued, canceled)
    assert pipe.calls == [("hincrby", BUILDS_FINISHED, "canceled", 1)]


def test_webhook_outcomes_follow_the_status_code():
    assert webhook_outcome(202) == "queued"
    assert webhook_outcome(200) == "ignored"
    assert webhook_outcome(401) == "unauthorized"
    assert webhook_outcome(413) == "too_large"
    assert webhook_outcome(503) == "unavailable"
    assert webhook_outcome(500) == "error"


def test_the_exposition_is_prometheus_text_with_cumulative_buckets():
    out = Exposition()
    out.family("x_seconds", "histogram", "Help text.")
    out.histogram("x_seconds", Histogram((1.0, 5.0), (2, 3, 1), 12.5, 6), {"status": 'a"b'})
    out.family("y_total", "counter", "Counts.")
    out.sample("y_total", 7, {"provider": "git\nhub"})
    text = out.render()
    assert text.endswith("\n")
    lines = text.splitlines()
    assert lines[:2] == ["# HELP x_seconds Help text.", "# TYPE x_seconds histogram"]
    assert 'x_seconds_bucket{status="a\\"b",le="1"} 2' in lines
    assert 'x_seconds_bucket{status="a\\"b",le="5"} 5' in lines
    assert 'x_seconds_bucket{status="a\\"b",le="+Inf"} 6' in lines
    assert 'x_seconds_sum{status="a\\"b"} 12.5' in lines
    assert 'x_seconds_count{status="a\\"b"} 6' in lines
    assert 'y_total{provider="git\\nhub"} 7' in lines
