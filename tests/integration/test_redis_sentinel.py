"""A redis+sentinel:// REDIS_URL follows a failover: real redis-server master, replica and sentinel
(started here on free loopback ports, ended by PID)."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from redis.sentinel import SentinelConnectionPool

from core.redis_url import connect


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _until(check: Callable[[], object], what: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except redis.RedisError:
            pass
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def _master(client: redis.Redis) -> int:
    pool = client.connection_pool
    assert isinstance(pool, SentinelConnectionPool)
    port: int = pool.get_master_address()[1]
    return port


@pytest.fixture
def sentinel_setup(tmp_path: Path) -> Iterator[tuple[int, int, int]]:
    master, replica, sentinel = _free_port(), _free_port(), _free_port()
    common = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(tmp_path)]
    conf = tmp_path / "sentinel.conf"
    conf.write_text(
        f"port {sentinel}\nbind 127.0.0.1\ndir {tmp_path}\n"
        f"sentinel monitor svc 127.0.0.1 {master} 1\n"
        "sentinel down-after-milliseconds svc 1000\nsentinel failover-timeout svc 5000\n"
    )
    procs = [
        subprocess.Popen(["redis-server", "--port", str(master), *common]),
        subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(replica),
                *common,
                "--replicaof",
                "127.0.0.1",
                str(master),
            ]
        ),
        subprocess.Popen(["redis-server", str(conf), "--sentinel"]),
    ]
    try:
        yield master, replica, sentinel
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=10)


def test_sentinel_url_follows_a_failover(sentinel_setup: tuple[int, int, int]) -> None:
    master, replica, sentinel = sentinel_setup
    with redis.Redis(port=sentinel) as admin:
        _until(lambda: admin.ping(), "the sentinel")
        _until(
            lambda: (
                len(admin.sentinel_slaves("svc")) == 1
                and admin.sentinel_slaves("svc")[0]["master-link-status"] == "ok"
            ),
            "the sentinel to see the replica",
        )
        client = connect(f"redis+sentinel://127.0.0.1:{sentinel}/svc/2", socket_timeout=2)
        try:
            client.set("before", "1")
            assert _master(client) == master
            admin.execute_command("SENTINEL", "FAILOVER", "svc")
            _until(
                lambda: admin.sentinel_get_master_addr_by_name("svc")[1] == replica,
                "the failover",
            )
            _until(lambda: client.set("after", "1"), "a write on the new master")
            assert client.get("before") == b"1"
            _until(
                lambda: _master(client) == replica,
                "the client to follow the new master",
            )
            client.set("later", "1")
            assert _master(client) == replica
        finally:
            client.close()
