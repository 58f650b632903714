"""The worker's rq loop when Redis goes away: which build it stopped, and waiting for Redis."""

from __future__ import annotations

from types import SimpleNamespace

import redis

from worker.rq_worker import InterruptedBuild, _build_of, wait_for_redis


class FlakyRedis:
    """Refuses ``down`` pings, then answers."""

    def __init__(self, down: int) -> None:
        self.down = down
        self.pings = 0

    def ping(self) -> bool:
        self.pings += 1
        if self.pings <= self.down:
            raise redis.ConnectionError("Connection refused")
        return True


def test_the_stopped_build_is_read_from_its_jobs_arguments():
    assert _build_of(SimpleNamespace(args=["abc", 2])) == InterruptedBuild("abc", 2)
    assert _build_of(SimpleNamespace(args=["abc"])) == InterruptedBuild("abc", None)
    assert _build_of(SimpleNamespace(args=[])) is None  # not a build job


def test_waiting_for_redis_ends_when_it_answers():
    connection = FlakyRedis(down=3)
    assert wait_for_redis(connection, stop=lambda: False, every=0) is True  # type: ignore[arg-type]
    assert connection.pings == 4


def test_waiting_for_redis_ends_on_a_stop():
    connection = FlakyRedis(down=10**6)
    stops = iter([False, False, True])
    assert wait_for_redis(connection, stop=lambda: next(stops), every=0) is False  # type: ignore[arg-type]
    assert connection.pings == 2
