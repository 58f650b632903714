"""A redis+sentinel:// REDIS_URL follows a failover: real redis-server masters, replicas and
sentinels (tests/integration/sentinel_helpers.py: started here on free loopback ports, ended by
PID)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.sentinel import SentinelConnectionPool

from core.redis_url import connect
from tests.integration.sentinel_helpers import SERVICE, SentinelDeployment, until

pytestmark = pytest.mark.integration


def _master(client: redis.Redis) -> int:
    pool = client.connection_pool
    assert isinstance(pool, SentinelConnectionPool)
    port: int = pool.get_master_address()[1]
    return port


@pytest.fixture
def one_sentinel(tmp_path: Path) -> Iterator[SentinelDeployment]:
    deployment = SentinelDeployment(tmp_path / "redis", replicas=1, sentinels=1, quorum=1)
    try:
        yield deployment.start()
    finally:
        deployment.stop()


def test_sentinel_url_follows_a_failover(one_sentinel: SentinelDeployment) -> None:
    master, replica = (server.port for server in one_sentinel.servers)
    client = connect(one_sentinel.url(2), socket_timeout=2)
    try:
        client.set("before", "1")
        assert _master(client) == master
        with one_sentinel.watchers[0].client() as admin:
            admin.execute_command("SENTINEL", "FAILOVER", SERVICE)
        until(lambda: one_sentinel.failed_over_from(master) == replica, "the failover")
        until(lambda: client.set("after", "1"), "a write on the new master")
        assert client.get("before") == b"1"
        until(lambda: _master(client) == replica, "the client to follow the new master")
        client.set("later", "1")
        assert _master(client) == replica
    finally:
        client.close()
