"""The one place a Redis connection is made from ``REDIS_URL``.

``redis://`` and ``rediss://`` URLs go to redis-py as they are. A Sentinel deployment is written
``redis+sentinel://[:PASSWORD@]host:port,host:port/SERVICE/DB``: the sentinels are asked for the
current master of ``SERVICE`` on every (re)connect, so a failover needs no restart. The password
is the master's; it never appears in an error message."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from redis import Redis
from redis.sentinel import Sentinel

from core.settings import SettingsError

SENTINEL_SCHEME = "redis+sentinel://"
_CREDENTIALS = re.compile(r"://[^@/]*@")


@dataclass(frozen=True)
class SentinelURL:
    """A parsed ``redis+sentinel://`` URL."""

    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int
    password: str | None


def _bad(why: str) -> SettingsError:
    return SettingsError(
        f"REDIS_URL is not a valid redis+sentinel URL: {why} "
        "(expected redis+sentinel://[:PASSWORD@]host:port,host:port/SERVICE/DB)"
    )


def _address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise _bad(f"sentinel address {text!r} is not host:port")
    return host.strip("[]"), int(port)


def parse_sentinel_url(url: str) -> SentinelURL:
    """Split a ``redis+sentinel://`` URL; a bad one raises a SettingsError naming REDIS_URL."""
    rest = url[len(SENTINEL_SCHEME) :]
    password: str | None = None
    if "@" in rest.split("/", 1)[0]:
        auth, rest = rest.split("@", 1)
        password = unquote(auth.partition(":")[2]) or None
    hosts, _, path = rest.partition("/")
    if not hosts:
        raise _bad("no sentinel addresses")
    sentinels = tuple(_address(part) for part in hosts.split(","))
    parts = path.split("/") if path else []
    if not parts or not parts[0]:
        raise _bad("no service name")
    if len(parts) > 2:
        raise _bad("too many path parts")
    db_text = parts[1] if len(parts) == 2 and parts[1] else "0"
    if not db_text.isdigit():
        raise _bad(f"database {db_text!r} is not a number")
    return SentinelURL(sentinels, unquote(parts[0]), int(db_text), password)


def connect(url: str, **options: Any) -> Redis:
    """A Redis client for ``url`` with redis-py connection ``options`` (timeouts, pool size)."""
    if not url.startswith(SENTINEL_SCHEME):
        return Redis.from_url(url, **options)
    parsed = parse_sentinel_url(url)
    sentinel_options: dict[str, Any] = {
        key: options[key] for key in ("socket_timeout", "socket_connect_timeout") if key in options
    }
    sentinel = Sentinel(
        list(parsed.sentinels), sentinel_kwargs=sentinel_options, **sentinel_options
    )
    master: Redis = sentinel.master_for(
        parsed.service, db=parsed.db, password=parsed.password, **options
    )
    return master


def without_password(url: str) -> str:
    """``url`` fit for a message: any ``user:password@`` part replaced by ``***@``."""
    return _CREDENTIALS.sub("://***@", url, count=1)
