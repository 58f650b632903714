"""Metrics: histogram buckets, the Prometheus text format, outcomes of webhook answers."""

from __future__ import annotations

from datetime import timedelta

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from app.metrics import build_families
from core.build import BuildRecord, BuildStatus, utcnow
from core.events import RefType
from core.metrics import (
    BUILD_DURATION,
    BUILDS_FINISHED,
    QUEUE_BUCKETS,
    QUEUE_DURATION,
    Histogram,
    Snapshot,
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


def exposition(snapshot: Snapshot, active=(), depth: int = 0, workers: int = 0) -> str:
    class Fixed:
        def collect(self):
            return build_families(snapshot, list(active), depth, workers)

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Fixed())  # type: ignore[arg-type]
    return generate_latest(registry).decode()


def snapshot(**fields) -> Snapshot:
    empty = Histogram(QUEUE_BUCKETS, (0,) * (len(QUEUE_BUCKETS) + 1), 0.0, 0)
    base = {
        "builds_finished": {},
        "build_durations": {},
        "queue_duration": empty,
        "webhooks": {},
        "docker": {},
    }
    return Snapshot(**{**base, **fields})


def test_the_exposition_is_prometheus_text_with_cumulative_buckets():
    durations = {"success": Histogram((1.0, 5.0), (2, 3, 1), 12.5, 6)}
    text = exposition(
        snapshot(build_durations=durations, webhooks={("git\nhub", "queued"): 7}),
        active=[BuildStatus.QUEUED, BuildStatus.QUEUED],
        depth=3,
    )
    assert text.endswith("\n")
    lines = text.splitlines()
    assert "# TYPE autobuild_build_duration_seconds histogram" in lines
    name = "autobuild_build_duration_seconds"
    assert f'{name}_bucket{{le="1.0",status="success"}} 2.0' in lines
    assert f'{name}_bucket{{le="5.0",status="success"}} 5.0' in lines
    assert f'{name}_bucket{{le="+Inf",status="success"}} 6.0' in lines
    assert f'{name}_sum{{status="success"}} 12.5' in lines
    assert f'{name}_count{{status="success"}} 6.0' in lines
    assert "# TYPE autobuild_webhook_deliveries_total counter" in lines
    assert 'autobuild_webhook_deliveries_total{outcome="queued",provider="git\\nhub"} 7.0' in lines
    assert 'autobuild_builds{status="queued"} 2.0' in lines
    assert "autobuild_queue_depth 3.0" in lines


def test_every_family_parses_back_with_the_names_it_had():
    text = exposition(snapshot(docker={"total_bytes": 10.0, "used_bytes": 4.0, "prunes": 1.0}))
    names = {family.name for family in text_string_to_metric_families(text)}
    assert names == {
        "autobuild_builds",
        "autobuild_builds_finished",
        "autobuild_build_duration_seconds",
        "autobuild_queue_duration_seconds",
        "autobuild_notifications",
        "autobuild_queue_depth",
        "autobuild_workers",
        "autobuild_webhook_deliveries",
        "autobuild_docker_data_used_bytes",
        "autobuild_docker_data_size_bytes",
        "autobuild_docker_prunes",
        "autobuild_docker_prune_reclaimed_bytes",
    }
    assert "autobuild_docker_prunes_total 1.0" in text.splitlines()
    assert "autobuild_docker_data_used_bytes 4.0" in text.splitlines()
