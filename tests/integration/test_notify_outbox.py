"""Every status change that notifies lands in the build's outbox in the same write as the change,
whichever of its few homes made it: dispatch (queued, and superseded as a compare-and-set),
the worker's transitions, cancel, an automatic retry."""

from __future__ import annotations

import uuid

import pytest

from buildrules.model import BuildPlan, BuildRule, Repository
from core.build import BuildStatus, Trigger
from core.control import cancel_build
from core.dispatch import dispatch
from core.events import RefType
from core.notifications import PENDING, WAKE, read_outbox
from core.queue import build_queue
from core.recovery import requeue_or_end
from core.store import BuildStore

pytestmark = pytest.mark.integration

IMAGE = "127.0.0.1:5000/octo/notify"
REPOSITORY = Repository(
    provider="github",
    name="octo/notify",
    clone_url="https://example.invalid/octo/notify.git",
    image=IMAGE,
    build_rules=(BuildRule(source_type=RefType.BRANCH, source="/.*/", docker_tags=("x",)),),
    retries=1,
)


def plan(commit: str | None = None) -> BuildPlan:
    return BuildPlan(
        provider="github",
        repository="octo/notify",
        image=IMAGE,
        source_type=RefType.BRANCH,
        source_name="main",
        commit=commit or uuid.uuid4().hex + "abcdefgh",
        docker_tags=("main",),
        dockerfile="Dockerfile",
        context="/",
        rule_indexes=(0,),
    )


@pytest.fixture
def store(clean_redis):
    return BuildStore(clean_redis)


def events(store, build_id):
    return [e.event for e in read_outbox(store.redis, build_id)]


def queue_one(store, queue):
    (record,) = dispatch(
        store, queue, REPOSITORY, [plan()], trigger=Trigger.WEBHOOK, delivery_id=None
    ).builds
    return record


def test_dispatch_records_the_queued_event_marks_the_build_pending_and_wakes(store):
    queue = build_queue(store.redis, f"q-{uuid.uuid4().hex[:6]}")
    record = queue_one(store, queue)
    (event,) = read_outbox(store.redis, record.id)
    assert event.event == "build.queued" and event.record == record
    assert store.redis.hget(PENDING, record.id) == b"1"
    assert store.redis.llen(WAKE) == 1


def test_a_newer_push_supersedes_in_dispatch_and_the_older_build_is_notified(store):
    queue = build_queue(store.redis, f"q-{uuid.uuid4().hex[:6]}")
    older = queue_one(store, queue)
    newer = queue_one(store, queue)
    assert store.require(older.id).status is BuildStatus.SUPERSEDED
    assert events(store, older.id) == ["build.queued", "build.superseded"]
    assert events(store, newer.id) == ["build.queued"]
    assert store.redis.hget(PENDING, older.id) == b"2"
    assert store.redis.llen(WAKE) == 1  # one wake-up, however many changes


def test_running_steps_notify_once_and_the_end_once(store):
    queue = build_queue(store.redis, f"q-{uuid.uuid4().hex[:6]}")
    record = queue_one(store, queue)
    for status in (BuildStatus.CLONING, BuildStatus.BUILDING, BuildStatus.PUSHING):
        store.transition(record.id, status)
    store.transition(record.id, BuildStatus.SUCCESS, digest="sha256:" + "0" * 64)
    assert events(store, record.id) == ["build.queued", "build.started", "build.succeeded"]
    assert read_outbox(store.redis, record.id)[-1].record.digest == "sha256:" + "0" * 64


def test_cancel_and_a_retry_are_notified(store):
    queue = build_queue(store.redis, f"q-{uuid.uuid4().hex[:6]}")
    record = queue_one(store, queue)
    running = store.transition(record.id, BuildStatus.CLONING)
    requeue_or_end(store, queue, REPOSITORY, running, "The daemon went away.")
    cancel_build(store, record.id)
    assert events(store, record.id) == [
        "build.queued",
        "build.started",
        "build.queued",
        "build.canceled",
    ]
