"""One repository cannot fill the whole queue (issue 18, item 9h): its builds waiting at once stay
within its share of AUTOBUILD_MAX_QUEUED (AUTOBUILD_MAX_QUEUED_PER_REPOSITORY, default half),
checked in the same atomic reservation as the cap, so concurrent deliveries never overshoot it."""

from __future__ import annotations

import threading
import uuid
from dataclasses import replace

import pytest
import redis

from core.build import Trigger
from core.control import QueueFullError, RepositoryQueueFullError
from core.dispatch import dispatch
from core.settings import Settings, default_repository_share
from core.store import ADMITTING, QUEUED_BUILDS, BuildStore
from tests.integration.test_dispatch_transaction import _url, plan, push, repository

pytestmark = pytest.mark.integration


@pytest.fixture
def queue(clean_redis):
    from core.queue import build_queue

    return build_queue(clean_redis, f"test-{uuid.uuid4().hex[:8]}")


def test_the_share_defaults_to_half_the_cap_and_can_be_set():
    assert Settings.from_env({}).max_queued_per_repository == 250
    assert Settings.from_env({"AUTOBUILD_MAX_QUEUED": "9"}).max_queued_per_repository == 4
    assert Settings.from_env({"AUTOBUILD_MAX_QUEUED": "0"}).max_queued_per_repository == 0
    changed = {"AUTOBUILD_MAX_QUEUED_PER_REPOSITORY": "7"}
    assert Settings.from_env(changed).max_queued_per_repository == 7
    assert default_repository_share(1) == 1


def test_a_repository_past_its_share_is_refused_and_others_still_queue(clean_redis, queue):
    store = BuildStore(clean_redis)
    busy, other = repository(), repository(name="octo/other")
    for n in range(3):
        push(store, queue, busy, f"b{n}", max_queued=10, max_queued_per_repository=3)

    with pytest.raises(RepositoryQueueFullError) as refused:
        push(store, queue, busy, "b4", max_queued=10, max_queued_per_repository=3)
    assert str(refused.value) == (
        "3 builds of github/octo/app are already queued (its share of the queue is 3); "
        "try again later."
    )
    assert isinstance(refused.value, QueueFullError)  # answered 429 like the cap
    other_plan = replace(plan("main"), repository="octo/other")
    dispatch(
        store, queue, other, [other_plan], trigger=Trigger.WEBHOOK, delivery_id=None,
        max_queued=10, max_queued_per_repository=3,
    )  # fmt: skip
    assert clean_redis.zcard(QUEUED_BUILDS) == 4


def test_deliveries_of_one_repository_at_once_never_overshoot_its_share(clean_redis, queue):
    repo = repository()
    outcomes: list[str] = []
    barrier = threading.Barrier(30)

    def deliver(n: int) -> None:
        connection = redis.Redis.from_url(_url(clean_redis))
        barrier.wait()
        try:
            dispatch(
                BuildStore(connection), queue, repo, [plan(f"branch-{n}")],
                trigger=Trigger.WEBHOOK, delivery_id=str(uuid.uuid4()),
                max_queued=100, max_queued_per_repository=10,
            )  # fmt: skip
            outcomes.append("queued")
        except RepositoryQueueFullError:
            outcomes.append("full")
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver, args=(n,)) for n in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["full"] * 20 + ["queued"] * 10
    assert clean_redis.zcard(QUEUED_BUILDS) == 10
    assert clean_redis.zcard(ADMITTING) == 0
