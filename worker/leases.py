"""Expiring Redis keys owned by a token: the build heartbeat and the per-tag push lock.

A lease is ``SET key token PX ttl``; only the holder of the token renews or releases it (both are
compare-and-set scripts), so a worker that lost its lease (it expired, another attempt took over)
never extends or deletes someone else's.
"""

from __future__ import annotations

from typing import Any

import redis

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


def acquire(connection: redis.Redis, key: str, token: str, ttl_seconds: float) -> bool:
    """Take the lease if nobody holds it."""
    return bool(connection.set(key, token, nx=True, px=_ms(ttl_seconds)))


def put(connection: redis.Redis, key: str, token: str, ttl_seconds: float) -> None:
    """Take or refresh the lease whoever held it (a heartbeat: the build is ours)."""
    connection.set(key, token, px=_ms(ttl_seconds))


def renew(connection: redis.Redis, key: str, token: str, ttl_seconds: float) -> bool:
    """Extend the lease if it is still ours."""
    result: Any = connection.eval(_RENEW, 1, key, token, _ms(ttl_seconds))
    return bool(result)


def release(connection: redis.Redis, key: str, token: str) -> bool:
    """Drop the lease if it is still ours."""
    result: Any = connection.eval(_RELEASE, 1, key, token)
    return bool(result)
