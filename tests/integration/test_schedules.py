"""The scheduler against the real Redis and a real git remote: first sight, claims, races, and
firings that find no ref or no host (no Docker: the builds are only queued)."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime

import pytest
import redis

from buildrules.loader import load
from core.build import BuildRecord, Trigger
from core.masking import Masker
from core.queue import build_queue
from core.schedules import Clock, Scheduler, claim_key, mark_key
from core.settings import Settings
from core.store import BuildStore
from tests.integration.control_helpers import repository_entry, write_config
from tests.integration.webhook_helpers import make_settings

pytestmark = pytest.mark.integration

FIRING = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
NOW = datetime(2026, 12, 1, 3, 0, 20, tzinfo=UTC)
BEFORE = datetime(2026, 11, 30, tzinfo=UTC)


def setup(tmp_path, redis_url: str, clone_url: str, source: str = "master") -> Settings:
    name = f"octo/sched-{uuid.uuid4().hex[:6]}"
    entry = repository_entry(name, clone_url, "127.0.0.1:5000/autobuild-test/sched")
    entry["build_rules"] = [
        {
            "source_type": "branch",
            "source": source,
            "docker_tag": "nightly-{date:%Y%m%d}",
            "schedule": {"cron": "0 3 * * *"},
        }
    ]
    return make_settings(write_config(tmp_path, entry), redis_url, tmp_path)


def scheduler(settings: Settings, connection: redis.Redis, now: datetime = NOW) -> Scheduler:
    queue = build_queue(connection, settings.queue_name)
    config = load(settings.config_path)
    return Scheduler(settings, config, connection, queue, Masker(), Clock(now))


def mark(connection: redis.Redis, one: Scheduler) -> int:
    (scheduled,) = one.rules
    return int(connection.get(mark_key(scheduled.key)) or 0)


def queued(connection: redis.Redis) -> list[BuildRecord]:
    return [b for b in BuildStore(connection).recent(limit=50) if b.trigger is Trigger.SCHEDULE]


def test_a_schedule_seen_first_counts_from_now_and_builds_nothing(
    tmp_path, redis_url, clean_redis, make_git_repo
):
    repo = make_git_repo({"Dockerfile": "FROM scratch\n"})
    one = scheduler(setup(tmp_path, redis_url, repo.url), clean_redis)
    assert one.tick() == []
    assert mark(clean_redis, one) == int(NOW.timestamp())
    assert queued(clean_redis) == []


def test_many_schedulers_racing_for_one_firing_queue_one_build(
    tmp_path, redis_url, clean_redis, make_git_repo
):
    repo = make_git_repo({"Dockerfile": "FROM scratch\n"})
    settings = setup(tmp_path, redis_url, repo.url)
    schedulers = [scheduler(settings, redis.Redis.from_url(redis_url)) for _ in range(6)]
    clean_redis.set(mark_key(schedulers[0].rules[0].key), int(BEFORE.timestamp()))
    results: list[list[BuildRecord]] = []
    start = threading.Barrier(len(schedulers))

    def run(one: Scheduler) -> None:
        start.wait()
        results.append(one.tick())

    threads = [threading.Thread(target=run, args=(one,)) for one in schedulers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for one in schedulers:
        one.redis.close()
    (build,) = queued(clean_redis)
    assert [len(r) for r in results].count(1) == 1 and sum(map(len, results)) == 1
    assert (build.commit, build.docker_tags) == (repo.head(), ("nightly-20261201",))
    assert mark(clean_redis, schedulers[0]) == int(FIRING.timestamp())
    # The firing is handled: a later look, even with the claim gone, queues nothing more.
    clean_redis.delete(claim_key(schedulers[0].rules[0].key, FIRING))
    assert scheduler(settings, clean_redis).tick() == []


def test_a_missing_branch_builds_nothing_and_the_firing_is_done(
    tmp_path, redis_url, clean_redis, make_git_repo
):
    repo = make_git_repo({"Dockerfile": "FROM scratch\n"})
    one = scheduler(setup(tmp_path, redis_url, repo.url, source="nightly"), clean_redis)
    clean_redis.set(mark_key(one.rules[0].key), int(BEFORE.timestamp()))
    assert one.tick() == []
    assert mark(clean_redis, one) == int(FIRING.timestamp())
    assert queued(clean_redis) == []


def test_an_unreachable_host_keeps_the_firing_for_a_later_try(tmp_path, redis_url, clean_redis):
    missing = f"file://{tmp_path}/nonexistent.git"
    one = scheduler(setup(tmp_path, redis_url, missing), clean_redis)
    key = one.rules[0].key
    clean_redis.set(mark_key(key), int(BEFORE.timestamp()))
    assert one.tick() == []
    assert mark(clean_redis, one) == int(BEFORE.timestamp())  # not handled
    assert 0 < clean_redis.ttl(claim_key(key, FIRING)) <= 300  # tried again when this ends
    assert queued(clean_redis) == []
