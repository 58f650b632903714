"""The worker's Redis connections: never without a read timeout. A Redis that hangs (accepts,
never answers: a stopped VM, a full network buffer, ``DEBUG SLEEP``) would otherwise stall the
worker for ever inside one read; with ``AUTOBUILD_REDIS_TIMEOUT`` each command raises
``redis.exceptions.TimeoutError`` instead, which the worker handles as Redis being unreachable.
Idle connections are checked before use (``health_check_interval``) and kept alive by TCP.
rq raises the timeout of its own dequeue connection to above its blocking wait by itself."""

from __future__ import annotations

from redis import Redis

from core.redis_url import connect
from core.settings import Settings

HEALTH_CHECK_INTERVAL_SECONDS = 30


def worker_redis(settings: Settings) -> Redis:
    """A connection to ``REDIS_URL`` with read, connect and health-check timeouts."""
    timeout = settings.redis_timeout_seconds
    return connect(
        settings.redis_url,
        socket_timeout=timeout,
        socket_connect_timeout=min(timeout, 5.0),
        socket_keepalive=True,
        health_check_interval=HEALTH_CHECK_INTERVAL_SECONDS,
    )
