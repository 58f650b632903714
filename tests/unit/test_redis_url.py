"""REDIS_URL parsing: plain URLs pass through, Sentinel URLs are split, bad ones name REDIS_URL."""

from __future__ import annotations

import pytest
from redis.sentinel import SentinelConnectionPool

from core.redis_url import connect, parse_sentinel_url, without_password
from core.settings import SettingsError


def test_sentinel_url_gives_hosts_service_db_and_password() -> None:
    parsed = parse_sentinel_url("redis+sentinel://:s%40cret@10.0.0.1:26379,[::1]:26380/main/3")
    assert parsed.sentinels == (("10.0.0.1", 26379), ("::1", 26380))
    assert parsed.service == "main"
    assert parsed.db == 3
    assert parsed.password == "s@cret"


def test_sentinel_url_without_db_uses_db_zero_and_no_password() -> None:
    parsed = parse_sentinel_url("redis+sentinel://127.0.0.1:26379/main")
    assert (parsed.db, parsed.password) == (0, None)


@pytest.mark.parametrize(
    "url",
    [
        "redis+sentinel://:hunter2secret@/main/0",
        "redis+sentinel://:hunter2secret@host/main/0",
        "redis+sentinel://:hunter2secret@host:99999/main/0",
        "redis+sentinel://:hunter2secret@host:26379/",
        "redis+sentinel://:hunter2secret@host:26379/main/x",
        "redis+sentinel://:hunter2secret@host:26379/main/0/extra",
    ],
)
def test_bad_sentinel_url_names_redis_url_and_hides_password(url: str) -> None:
    with pytest.raises(SettingsError) as caught:
        parse_sentinel_url(url)
    assert "REDIS_URL" in str(caught.value)
    assert "hunter2secret" not in str(caught.value)


def test_connect_builds_a_sentinel_pool_without_connecting() -> None:
    client = connect("redis+sentinel://127.0.0.1:1/main/2", socket_timeout=1)
    try:
        pool = client.connection_pool
        assert isinstance(pool, SentinelConnectionPool)
        assert pool.service_name == "main"
        assert pool.connection_kwargs["db"] == 2
    finally:
        client.close()


def test_connect_passes_plain_urls_to_redis_py() -> None:
    client = connect("redis://127.0.0.1:1/4")
    try:
        assert client.connection_pool.connection_kwargs["db"] == 4
    finally:
        client.close()


def test_without_password_hides_credentials_for_messages() -> None:
    assert (
        without_password("redis+sentinel://:pw@h:1,h:2/m/0") == "redis+sentinel://***@h:1,h:2/m/0"
    )
    assert without_password("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
