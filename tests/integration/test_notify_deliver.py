"""The notify job on the real Redis, called directly: what it sends, skips and leaves alone."""

from __future__ import annotations

import pytest
from rq.serializers import JSONSerializer
from rq.worker import SimpleWorker

from buildrules.model import BuildRule, Config, NotifyTarget, Repository
from core.build import BuildRecord, BuildStatus, new_build_id
from core.events import RefType
from core.notifications import PENDING, cursor_key, lock_key, outbox_key, read_answers
from core.settings import Settings
from core.store import BuildStore
from tests.integration.notify_helpers import Receiver
from worker.notify.deliver import NotifyContext, TargetBusyError, deliver, set_context
from worker.notify.fanout import fan_out, notify_queue
from worker.notify.targets import target_of

pytestmark = pytest.mark.integration


def repository(*targets: NotifyTarget) -> Repository:
    return Repository(
        provider="github",
        name="octo/deliver",
        clone_url="https://example.invalid/octo/deliver.git",
        image="127.0.0.1:5000/octo/deliver",
        build_rules=(BuildRule(RefType.BRANCH, "main", ("latest",)),),
        notify=targets,
    )


@pytest.fixture
def receiver():
    made = Receiver((200,))
    yield made
    made.close()


@pytest.fixture
def use(clean_redis, redis_url):
    def make(config: Config) -> NotifyContext:
        settings = Settings.from_env({"REDIS_URL": redis_url, "AUTOBUILD_NOTIFY_TIMEOUT": "2"})
        context = NotifyContext.create(settings, config, clean_redis)
        set_context(context)
        return context

    yield make
    set_context(None)


def finished_build(store: BuildStore) -> BuildRecord:
    record = BuildRecord(
        id=new_build_id(),
        provider="github",
        repository="octo/deliver",
        source_type=RefType.BRANCH,
        source_name="main",
        commit="c" * 40,
        image="127.0.0.1:5000/octo/deliver",
        docker_tags=("latest",),
        dockerfile="Dockerfile",
        context="/",
    )
    store.create([record])
    store.transition(record.id, BuildStatus.CLONING)
    return store.transition(record.id, BuildStatus.FAILED, error="RUN false failed.")


def test_only_the_wanted_events_are_sent_and_the_rest_are_passed(use, receiver):
    entry = NotifyTarget(events=("build.failed",), url=receiver.url + "/h")
    context = use(Config(repositories=(repository(entry),)))
    record = finished_build(BuildStore(context.redis))
    key = target_of(entry).key

    assert deliver(record.id, key) == "done"

    (request,) = receiver.received
    assert request.json["type"] == "build.failed"
    assert context.redis.hget(cursor_key(record.id), key) == b"3"
    (answer,) = read_answers(context.redis, record.id)
    assert answer.ok and answer.delivered == ("build.failed",)


def test_a_target_that_filters_the_branch_out_gets_nothing(use, receiver):
    entry = NotifyTarget(events=("build.failed",), url=receiver.url, branches=("release",))
    context = use(Config(repositories=(repository(entry),)))
    record = finished_build(BuildStore(context.redis))

    assert deliver(record.id, target_of(entry).key) == "done"
    assert receiver.received == []


def test_a_repository_no_longer_configured_is_sent_nothing(use, receiver):
    entry = NotifyTarget(events=("build.failed",), url=receiver.url)
    context = use(Config(repositories=()))
    record = finished_build(BuildStore(context.redis))

    assert deliver(record.id, target_of(entry).key) == "not configured"
    assert receiver.received == []


def test_a_second_job_leaves_the_target_to_the_one_holding_its_lock(use, receiver):
    entry = NotifyTarget(events=("build.failed",), url=receiver.url)
    context = use(Config(repositories=(repository(entry),)))
    record = finished_build(BuildStore(context.redis))
    key = target_of(entry).key
    context.redis.set(lock_key(record.id, key), "someone-else", ex=30)

    with pytest.raises(TargetBusyError):  # rq tries it again after the backoff
        deliver(record.id, key)
    assert receiver.received == []


def test_fan_out_drops_the_events_of_builds_nobody_is_told_about(use):
    context = use(Config(repositories=(repository(),)))
    record = finished_build(BuildStore(context.redis))
    queue = notify_queue(context)

    assert fan_out(context, queue) == 1
    assert context.redis.llen(outbox_key(record.id)) == 0
    assert context.redis.hlen(PENDING) == 0 and queue.count == 0


def test_fan_out_queues_one_job_per_target_while_one_waits_and_it_sends_all(use, receiver):
    entry = NotifyTarget(events=("build.queued", "build.started"), url=receiver.url)
    context = use(Config(repositories=(repository(entry),)))
    store = BuildStore(context.redis)
    queue = notify_queue(context)
    record = finished_build(store).with_changes(
        id=new_build_id(), status=BuildStatus.QUEUED, error=None, finished_at=None
    )
    store.create([record])
    fan_out(context, queue)
    store.transition(record.id, BuildStatus.CLONING)
    fan_out(context, queue)
    assert queue.count == 2  # the finished build's job and this build's one job

    SimpleWorker([queue], connection=context.redis, serializer=JSONSerializer).work(burst=True)

    mine = [r.json["type"] for r in receiver.received if r.json["data"]["build"]["id"] == record.id]
    assert mine == ["build.queued", "build.started"]
