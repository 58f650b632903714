"""A delivery's dispatch is two round trips to Redis (and redis-py's check that Redis has rq's
promotion script): one read (the delivery claimed, the queue counted, the pushed ref's active
builds read), one transaction (records, indexes, superseded builds, rq jobs, rate-limited ones
written as rq 3.0's own enqueue writes them). These tests hold it to what the one-step-at-a-time
version did: supersede as a compare-and-set that never overwrites a build that moved on, builds
recorded meanwhile by another process, one build per delivery."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator
from importlib.metadata import version
from typing import Any

import pytest
import redis
import redis.connection
from rq import Queue
from rq.job import Job, JobStatus
from rq.rate_limit import RateLimit, RateLimitRegistry

from buildrules.model import BuildPlan, BuildRule, Repository
from core.build import BuildRecord, BuildStatus, Trigger, new_build_id
from core.control import QueueFullError
from core.dispatch import dispatch
from core.events import RefType
from core.metrics import BUILDS_FINISHED, WEBHOOKS
from core.queue import RUN_BUILD, build_queue, enqueue_build, job_id_for
from core.store import (
    ACTIVE_BUILDS,
    ADMITTING,
    QUEUED_BUILDS,
    BuildStore,
    DispatchView,
    active_ref_key,
    concurrency_key,
)
from tests.integration.webhook_helpers import github_push, make_app, make_settings, post_github

pytestmark = pytest.mark.integration

IMAGE = "127.0.0.1:5000/octo/app"


def repository(**overrides: Any) -> Repository:
    fields: dict[str, Any] = {
        "provider": "github",
        "name": "octo/app",
        "clone_url": "https://example.invalid/octo/app.git",
        "image": IMAGE,
        "build_rules": (BuildRule(source_type=RefType.BRANCH, source="/.*/", docker_tags=("x",)),),
    }
    return Repository(**{**fields, **overrides})


def plan(branch: str = "main", commit: str | None = None) -> BuildPlan:
    return BuildPlan(
        provider="github",
        repository="octo/app",
        image=IMAGE,
        source_type=RefType.BRANCH,
        source_name=branch,
        commit=commit or uuid.uuid4().hex + "abcdefgh",
        docker_tags=(branch,),
        dockerfile="Dockerfile",
        context="/",
        rule_indexes=(0,),
    )


def record(branch: str = "main", **fields: Any) -> BuildRecord:
    return BuildRecord(
        id=new_build_id(),
        provider="github",
        repository="octo/app",
        source_type=RefType.BRANCH,
        source_name=branch,
        commit="a" * 40,
        image=IMAGE,
        docker_tags=(branch,),
        dockerfile="Dockerfile",
        context="/",
        rule_indexes=(0,),
        **fields,
    )


@pytest.fixture
def queue(clean_redis: redis.Redis) -> Queue:
    return build_queue(clean_redis, f"test-{uuid.uuid4().hex[:8]}")


def push(store: BuildStore, queue: Queue, repo: Repository, branch: str = "main", **kw: Any):
    return dispatch(
        store,
        queue,
        repo,
        [plan(branch)],
        trigger=Trigger.WEBHOOK,
        delivery_id=kw.pop("delivery_id", str(uuid.uuid4())),
        **kw,
    )


# --- rq: the rate-limited job is written as rq's own enqueue writes it --------------------------


def _rq_state(connection: redis.Redis, queue: Queue, job_id: str, key: str) -> dict[str, Any]:
    registry = RateLimitRegistry(key, connection)
    job_hash = {k.decode(): v for k, v in connection.hgetall(Job.key_for(job_id)).items()}  # type: ignore[union-attr]
    for moment in ("created_at", "enqueued_at"):  # when, not what
        job_hash.pop(moment, None)
    return {
        "job": job_hash,
        "ttl": connection.ttl(Job.key_for(job_id)),
        "queues": queue.key.encode() in connection.smembers(Queue.redis_queues_keys),
        "rl_keys": key.encode() in connection.smembers(RateLimitRegistry.rl_keys_key),
        "config": connection.hgetall(registry.config_key),
        "allowed": registry.get_allowed_job_ids(),
        "waiting": connection.zrange(registry.rate_limited_key, 0, -1, withscores=True),
        "in_queue": [j.decode() for j in connection.lrange(queue.key, 0, -1)],  # type: ignore[union-attr]
    }


def _rq_enqueue(queue: Queue, rec: BuildRecord, key: str) -> Job:
    """rq's own enqueue as its documentation shows it, then the order by queue time."""
    rate_limit = RateLimit(key, 1)
    job = queue.enqueue(
        RUN_BUILD,
        rec.id,
        rec.attempt,
        job_id=job_id_for(rec),
        job_timeout=3600 + 300,
        result_ttl=24 * 3600,
        failure_ttl=24 * 3600,
        description=f"build {rec.id} of {rec.repository} {rec.source_name}",
        rate_limit=rate_limit,
    )
    waiting = RateLimitRegistry(key, queue.connection).rate_limited_key
    queue.connection.zadd(waiting, {job.id: rec.created_at.timestamp()}, xx=True)
    return job


@pytest.mark.parametrize("on_pipeline", [False, True])
def test_a_rate_limited_job_is_written_as_rqs_own_enqueue_writes_it(clean_redis, on_pipeline):
    first, second = record(), record()
    states = []
    for ours in (False, True):
        clean_redis.flushdb()
        queue = build_queue(clean_redis, "same-name")
        key = concurrency_key(queue.name, "github", "octo/app")
        jobs = []
        for rec in (first, second):  # the first takes the slot, the second waits
            if not ours:
                jobs.append(_rq_enqueue(queue, rec, key))
            elif on_pipeline:
                pipe = clean_redis.pipeline(transaction=True)
                pipe.multi()
                jobs.append(enqueue_build(queue, rec, 3600, max_concurrent=1, pipeline=pipe))
                pipe.execute()
            else:
                jobs.append(enqueue_build(queue, rec, 3600, max_concurrent=1))
        states.append([_rq_state(clean_redis, queue, job_id_for(r), key) for r in (first, second)])
        if not on_pipeline or not ours:  # the returned jobs say what happened to them
            assert [j.get_status(refresh=False) for j in jobs] == [
                JobStatus.QUEUED,
                JobStatus.RATE_LIMITED,
            ]
    rq_own, ours_state = states
    assert ours_state == rq_own
    assert rq_own[0]["job"]["status"] == b"queued" and rq_own[1]["job"]["status"] == b"rate_limited"


def test_rq_is_the_minor_version_core_queue_mirrors():
    assert version("rq").split(".")[:2] == ["3", "0"]  # see core/queue.py before raising the pin


def test_a_limited_repositorys_builds_wait_in_the_order_they_were_queued(clean_redis, queue):
    store = BuildStore(clean_redis)
    repo = repository(max_concurrent_builds=1)
    first = push(store, queue, repo, "a").builds[0]
    second = push(store, queue, repo, "b").builds[0]
    third = push(store, queue, repo, "c").builds[0]
    registry = RateLimitRegistry(concurrency_key(queue.name, "github", "octo/app"), clean_redis)
    assert queue.job_ids == [job_id_for(first)]
    assert registry.get_rate_limited_job_ids() == [job_id_for(second), job_id_for(third)]
    waiting = clean_redis.zrange(registry.rate_limited_key, 0, -1, withscores=True)
    assert [score for _id, score in waiting] == [
        second.created_at.timestamp(),
        third.created_at.timestamp(),
    ]


def test_a_job_without_a_limit_goes_straight_to_the_queue_on_a_pipeline(clean_redis, queue):
    rec = record()
    pipe = clean_redis.pipeline(transaction=True)
    pipe.multi()
    enqueue_build(queue, rec, 60, pipeline=pipe)
    assert queue.count == 0  # nothing before the caller executes
    pipe.execute()
    assert queue.job_ids == [job_id_for(rec)]
    assert queue.fetch_job(job_id_for(rec)).timeout == 60 + 300


# --- dispatch: two round trips ----------------------------------------------------------------


@pytest.fixture
def round_trips() -> Iterator[list[int]]:
    """Counts what is sent to Redis (one send per command or pipeline: a round trip)."""
    sent = [0]
    original = redis.connection.AbstractConnection.send_packed_command

    def counting(self, command, check_health=True):  # type: ignore[no-untyped-def]
        sent[0] += 1
        return original(self, command, check_health)

    redis.connection.AbstractConnection.send_packed_command = counting  # type: ignore[method-assign]
    try:
        yield sent
    finally:
        redis.connection.AbstractConnection.send_packed_command = original  # type: ignore[method-assign]


def test_a_push_that_supersedes_costs_two_round_trips_and_a_script_check(
    clean_redis, queue, round_trips
):
    store = BuildStore(clean_redis)
    repo = repository()
    first = push(store, queue, repo)
    queue.get_redis_server_version()  # read once per queue object, as in a web process
    round_trips[0] = 0

    second = push(store, queue, repo)

    # the read, the transaction, and redis-py's SCRIPT EXISTS for rq's promotion script on it
    assert round_trips[0] == 3
    (older,) = first.builds
    assert [r.id for r in second.superseded] == [older.id]
    done = store.require(older.id)
    assert done.status is BuildStatus.SUPERSEDED and done.finished_at is not None
    assert done.error == (
        f"Superseded by build {second.builds[0].id} of newer commit "
        f"{second.builds[0].commit[:7]} on main."
    )
    assert clean_redis.hget(BUILDS_FINISHED, "superseded") == b"1"
    assert clean_redis.zscore(ACTIVE_BUILDS, older.id) is None
    assert clean_redis.zscore(QUEUED_BUILDS, older.id) is None
    ref = active_ref_key("github", "octo/app", "branch", "main")
    assert [m.decode() for m in clean_redis.zrange(ref, 0, -1)] == [second.builds[0].id]
    assert store.require(second.builds[0].id).status is BuildStatus.QUEUED


def _after_read(store: BuildStore, meanwhile) -> None:  # type: ignore[no-untyped-def]
    """Run ``meanwhile()`` between dispatch's read and its transaction."""
    read = store.read_for_dispatch

    def reading(*args: Any, **kwargs: Any) -> DispatchView:
        view = read(*args, **kwargs)
        meanwhile()
        return view

    store.read_for_dispatch = reading  # type: ignore[method-assign]


def test_a_build_changed_after_the_read_is_superseded_from_what_it_is_now(clean_redis, queue):
    store = BuildStore(clean_redis)
    repo = repository()
    (older,) = push(store, queue, repo).builds
    _after_read(store, lambda: store.update(older.id, image_id="sha256:changed"))

    newer = push(store, queue, repo)

    assert [r.id for r in newer.superseded] == [older.id]
    done = store.require(older.id)
    assert (done.status, done.image_id) == (BuildStatus.SUPERSEDED, "sha256:changed")
    assert clean_redis.hget(BUILDS_FINISHED, "superseded") == b"1"  # counted once


def test_a_build_that_started_after_the_read_is_left_running(clean_redis, queue):
    store = BuildStore(clean_redis)
    repo = repository()
    (older,) = push(store, queue, repo).builds
    _after_read(store, lambda: store.transition(older.id, BuildStatus.CLONING))

    newer = push(store, queue, repo)

    assert newer.superseded == ()
    assert store.require(older.id).status is BuildStatus.CLONING
    assert clean_redis.hget(BUILDS_FINISHED, "superseded") is None
    assert clean_redis.zscore(ACTIVE_BUILDS, older.id) is not None


def test_a_build_recorded_after_the_read_by_another_process_is_superseded(clean_redis, queue):
    store = BuildStore(clean_redis)
    repo = repository()
    other = record()  # an older push to the same branch, recorded by another web process ...
    _after_read(store, lambda: store.create([other]))  # ... after this one read the ref

    newer = push(store, queue, repo)

    assert [r.id for r in newer.superseded] == [other.id]
    assert store.require(other.id).status is BuildStatus.SUPERSEDED


def test_the_queue_cap_refuses_and_frees_the_delivery(clean_redis, queue):
    store = BuildStore(clean_redis)
    repo = repository()
    push(store, queue, repo, "a", max_queued=1)
    delivery = str(uuid.uuid4())
    with pytest.raises(QueueFullError):
        push(store, queue, repo, "b", max_queued=1, delivery_id=delivery)
    assert clean_redis.zcard(QUEUED_BUILDS) == 1
    again = push(
        store, queue, repo, "b", max_queued=2, max_queued_per_repository=0, delivery_id=delivery
    )  # a redelivery
    assert not again.duplicate and len(again.builds) == 1


def test_deliveries_at_once_never_overshoot_the_queue_cap(clean_redis, queue):
    repo = repository()
    outcomes: list[str] = []
    barrier = threading.Barrier(40)

    def deliver(n: int) -> None:
        store = BuildStore(redis.Redis.from_url(_url(clean_redis)))
        barrier.wait()
        try:
            dispatch(
                store, queue, repo, [plan(f"branch-{n}")], trigger=Trigger.WEBHOOK,
                delivery_id=str(uuid.uuid4()), max_queued=25, max_queued_per_repository=0,
            )  # fmt: skip
            outcomes.append("queued")
        except QueueFullError:
            outcomes.append("full")

    threads = [threading.Thread(target=deliver, args=(n,)) for n in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["full"] * 15 + ["queued"] * 25
    assert clean_redis.zcard(QUEUED_BUILDS) == 25
    assert clean_redis.zcard(ADMITTING) == 0  # every reservation became builds or was refused


def test_a_reservation_of_a_dispatch_that_died_expires(clean_redis, queue):
    store = BuildStore(clean_redis)
    clean_redis.zadd(ADMITTING, {"dead-process|3": time.time() + 60})
    with pytest.raises(QueueFullError):
        push(store, queue, repository(), "a", max_queued=3)
    clean_redis.zadd(ADMITTING, {"dead-process|3": time.time() - 1})  # its time is up
    assert len(push(store, queue, repository(), "a", max_queued=3).builds) == 1
    assert clean_redis.zcard(ADMITTING) == 0


def test_identical_deliveries_at_once_queue_one_build(clean_redis, queue):
    repo = repository()
    delivery = str(uuid.uuid4())
    same = plan()
    results: list[Any] = []
    barrier = threading.Barrier(20)

    def deliver() -> None:
        store = BuildStore(redis.Redis.from_url(_url(clean_redis)))
        barrier.wait()
        results.append(
            dispatch(store, queue, repo, [same], trigger=Trigger.WEBHOOK, delivery_id=delivery)
        )

    threads = [threading.Thread(target=deliver) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    firsts = [r for r in results if not r.duplicate]
    assert len(results) == 20 and len(firsts) == 1
    ids = {tuple(b.id for b in r.builds) for r in results}
    assert ids == {(firsts[0].builds[0].id,)}
    assert clean_redis.zcard(QUEUED_BUILDS) == 1


def _url(connection: redis.Redis) -> str:
    kwargs = connection.connection_pool.connection_kwargs
    return f"redis://{kwargs['host']}:{kwargs['port']}/{kwargs['db']}"


# --- the webhook: counted once, as its answer, logged once ----------------------------------


@pytest.fixture
def webhook_client(tmp_path, redis_url, clean_redis):
    config = tmp_path / "autobuild.yml"
    config.write_text(
        "repositories:\n"
        "  - provider: github\n"
        "    name: octo/app\n"
        "    clone_url: https://example.invalid/octo/app.git\n"
        f"    image: {IMAGE}\n"
        "    webhook_secret_env: APP_SECRET\n"
        "    build_rules:\n"
        "      - source_type: branch\n"
        "        source: main\n"
        "        docker_tag: latest\n"
    )
    settings = make_settings(
        config, redis_url, tmp_path, APP_SECRET="app-webhook-secret-0123456789"
    )
    return make_app(settings).test_client()


def deliveries(connection: redis.Redis) -> dict[str, int]:
    counts = connection.hgetall(WEBHOOKS)
    return {k.decode(): int(v) for k, v in counts.items()}  # type: ignore[union-attr]


def test_a_delivery_is_counted_once_and_a_redelivery_as_ignored(
    webhook_client, clean_redis, caplog
):
    caplog.set_level(logging.INFO, logger="app")
    payload = github_push("octo/app", "refs/heads/main", "1" * 40)
    first = post_github(webhook_client, "app-webhook-secret-0123456789", payload, delivery="d-1")
    again = post_github(webhook_client, "app-webhook-secret-0123456789", payload, delivery="d-1")
    assert (first.status_code, again.status_code) == (202, 200)
    assert deliveries(clean_redis) == {"github|queued": 1, "github|ignored": 1}
    (build,) = first.get_json()["builds"]
    lines = [r for r in caplog.records if getattr(r, "event", None) == "webhook"]
    assert [(r.outcome, r.build_id) for r in lines] == [
        ("queued", build["id"]),
        ("ignored", build["id"]),
    ]


def test_an_answer_that_fails_after_the_builds_are_queued_is_counted_as_its_answer(
    webhook_client, clean_redis, monkeypatch
):
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the answer could not be written")

    monkeypatch.setattr("app.webhooks.jsonify", broken)
    answer = post_github(
        webhook_client,
        "app-webhook-secret-0123456789",
        github_push("octo/app", "refs/heads/main", "2" * 40),
    )
    assert answer.status_code == 500
    assert clean_redis.zcard(QUEUED_BUILDS) == 1  # queued all the same
    assert deliveries(clean_redis) == {"github|error": 1}
